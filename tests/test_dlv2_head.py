"""DLV2Head (DeepLab-V2 classifier, DAFormer port): build from an mmseg
config, forced arguments, init, parameter count, output stride, and the
per-pixel ``seg_weight`` loss weighting."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.structures import SegDataSample

import mmvlpuda  # noqa: F401  (mmcv._ext stand-in before importing mmseg)
from mmvlpuda.models.decode_heads import DLV2Head
from mmvlpuda.registry import MODELS

NUM_CLASSES = 5


def _segmentor_cfg(dilations=(6, 12)):
    return dict(
        _scope_='mmseg',
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            pad_val=0,
            seg_pad_val=255,
            size=(64, 64)),
        backbone=dict(
            type='ResNetV1c',
            depth=18,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            dilations=(1, 1, 2, 4),
            strides=(1, 2, 1, 1),
            norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=False,
            style='pytorch',
            contract_dilation=True),
        decode_head=dict(
            type='mmvlpuda.DLV2Head',
            in_channels=512,
            in_index=3,
            dilations=dilations,
            num_classes=NUM_CLASSES,
            align_corners=False,
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


@pytest.fixture(scope='module')
def segmentor():
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(_segmentor_cfg()))
    model.init_weights()
    return model


def _head(in_channels=8, dilations=(6, 12), **kwargs):
    return DLV2Head(
        in_channels=in_channels,
        in_index=0,
        dilations=dilations,
        num_classes=NUM_CLASSES,
        **kwargs)


def _samples(labels, weights=None):
    """SegDataSamples from (B, H, W) labels and optional per-sample
    weights (PixelData, tensor or None)."""
    weights = weights or [None] * len(labels)
    samples = []
    for label, weight in zip(labels, weights):
        sample = SegDataSample(
            metainfo=dict(img_shape=label.shape, ori_shape=label.shape))
        sample.gt_sem_seg = PixelData(data=label[None])
        if weight is not None:
            sample.seg_weight = weight
        samples.append(sample)
    return samples


def _batch(batch_size=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(
        batch_size, NUM_CLASSES, size // 4, size // 4, generator=g)
    labels = torch.randint(
        0, NUM_CLASSES, (batch_size, size, size), generator=g)
    labels[:, :2] = 255  # some ignored pixels
    return logits, labels


def test_registered_and_built_by_mmseg_encoder_decoder(segmentor):
    head = segmentor.decode_head
    assert isinstance(head, DLV2Head)
    assert MODELS.get('DLV2Head') is DLV2Head
    assert MMSEG_MODELS.get('mmvlpuda.DLV2Head') is DLV2Head
    assert not hasattr(head, 'conv_seg')
    assert head.supports_seg_weight is True
    assert (head.channels, head.dropout, head.norm_cfg) == (1, None, None)
    assert len(head.aspp_modules) == 2
    for branch, rate in zip(head.aspp_modules, (6, 12)):
        assert branch.conv.dilation == (rate, rate)
        assert branch.conv.kernel_size == (3, 3)
        assert branch.conv.bias is not None
        assert not branch.with_norm and not branch.with_activation


def test_default_dilations_and_default_loss_build_in_any_scope():
    head = MODELS.build(
        dict(type='DLV2Head', in_channels=4, num_classes=NUM_CLASSES))
    assert head.dilations == (6, 12, 18, 24)
    assert head.loss_decode.loss_name == 'loss_ce'


def test_forced_arguments():
    assert _head(channels=1, dropout_ratio=0, norm_cfg=None).channels == 1
    for key, value in [('channels', 256), ('dropout_ratio', 0.1),
                       ('norm_cfg', dict(type='BN'))]:
        with pytest.raises(ValueError, match=key):
            _head(**{key: value})


@pytest.mark.parametrize('dilations,expected', [((6, 12), 700_454),
                                                ((6, 12, 18, 24), 1_400_908)])
def test_param_count_matches_daformer(dilations, expected):
    # segmentation.md §2.4: 2048 in-channels, 19 classes
    head = DLV2Head(
        in_channels=2048, in_index=3, dilations=dilations, num_classes=19)
    count = sum(p.numel() for p in head.parameters())
    assert count == len(dilations) * (2048 * 3 * 3 * 19 + 19) == expected


def test_init_normal_std_001_zero_bias():
    torch.manual_seed(0)
    head = _head(in_channels=256)
    head.init_weights()
    weights = torch.cat([b.conv.weight.flatten() for b in head.aspp_modules])
    assert abs(weights.std().item() - 0.01) < 5e-4
    for branch in head.aspp_modules:
        assert torch.all(branch.conv.bias == 0)


def test_forward_is_sum_of_branches():
    head = _head()
    x = torch.randn(2, 8, 9, 9)
    expected = sum(branch.conv(x) for branch in head.aspp_modules)
    out = head([x])
    assert out.shape == (2, NUM_CLASSES, 9, 9)
    assert torch.allclose(out, expected, atol=1e-6)


def _packed(model, batch_size=2, size=64, weights=None):
    g = torch.Generator().manual_seed(1)
    data = dict(inputs=[], data_samples=[])
    for i in range(batch_size):
        data['inputs'].append(
            torch.randint(
                0, 256, (3, size, size), generator=g, dtype=torch.uint8))
        sample = SegDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, NUM_CLASSES, (1, size, size), generator=g))
        if weights is not None:
            sample.seg_weight = PixelData(data=weights[i])
        data['data_samples'].append(sample)
    return model.data_preprocessor(data, training=True)


def test_predict_shape_and_output_stride_8(segmentor):
    segmentor.eval()
    data = _packed(segmentor)
    with torch.no_grad():
        logits = segmentor(data['inputs'], mode='tensor')
        preds = segmentor(**data, mode='predict')
    assert logits.shape == (2, NUM_CLASSES, 8, 8)  # 64 / 8
    assert preds[0].pred_sem_seg.data.shape == (1, 64, 64)
    assert preds[0].seg_logits.data.shape == (NUM_CLASSES, 64, 64)


def test_segmentor_loss_with_seg_weight(segmentor):
    segmentor.train()
    torch.manual_seed(0)
    plain = segmentor(**_packed(segmentor), mode='loss')
    torch.manual_seed(0)
    zeros = [torch.zeros(1, 64, 64)] * 2
    zero = segmentor(**_packed(segmentor, weights=zeros), mode='loss')
    assert plain['decode.loss_ce'] > 0
    assert zero['decode.loss_ce'] == 0
    assert torch.equal(plain['decode.acc_seg'], zero['decode.acc_seg'])
    zero['decode.loss_ce'].backward()  # the weighted loss stays in graph


def test_loss_without_weight_equals_stock_mmseg():
    head = _head()
    logits, labels = _batch()
    samples = _samples(labels)
    ours = head.loss_by_feat(logits, samples)
    stock = BaseDecodeHead.loss_by_feat(head, logits, samples)
    assert set(ours) == set(stock) == {'loss_ce', 'acc_seg'}
    for key in stock:
        assert torch.equal(ours[key], stock[key])


@pytest.mark.parametrize('as_pixel_data', [True, False])
def test_loss_scales_with_seg_weight(as_pixel_data):
    head = _head()
    logits, labels = _batch()
    plain = head.loss_by_feat(logits, _samples(labels))['loss_ce']

    def loss(value):
        weights = [torch.full((1, 32, 32), value) for _ in labels]
        if as_pixel_data:
            weights = [PixelData(data=w) for w in weights]
        return head.loss_by_feat(logits, _samples(labels, weights))

    assert loss(0.)['loss_ce'] == 0
    assert torch.allclose(loss(1.)['loss_ce'], plain)
    assert torch.allclose(loss(2.)['loss_ce'], 2 * plain)
    assert torch.equal(
        loss(0.)['acc_seg'],
        head.loss_by_feat(logits, _samples(labels))['acc_seg'])


def test_loss_per_pixel_weight_is_weighted_mean_over_all_pixels():
    head = _head()
    logits, labels = _batch()
    weights = torch.rand(2, 32, 32, generator=torch.Generator().manual_seed(3))
    # sample 1 has no seg_weight: weight 1 everywhere
    samples = _samples(labels, [weights[0][None], None])
    ours = head.loss_by_feat(logits, samples)['loss_ce']
    up = F.interpolate(
        logits, size=(32, 32), mode='bilinear', align_corners=False)
    ce = F.cross_entropy(up, labels, ignore_index=255, reduction='none')
    full = torch.stack([weights[0], torch.ones(32, 32)])
    assert torch.allclose(ours, (ce * full).sum() / labels.numel())


def test_seg_weight_shape_mismatch_raises():
    head = _head()
    logits, labels = _batch()
    samples = _samples(labels, [torch.ones(1, 16, 16)] * 2)
    with pytest.raises(ValueError, match='label size'):
        head.loss_by_feat(logits, samples)
