"""DACS self-training segmentor (mmvlpuda.models.segmentors.dacs)."""
import os.path as osp
import warnings
from unittest import mock

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch.nn.modules.batchnorm import _BatchNorm

from conftest import REPO_ROOT
from mmvlpuda.models.segmentors.dacs import (downscale_label_ratio,
                                             feature_distance)
from mmvlpuda.models.utils import one_mix
from mmvlpuda.registry import MODELS
from mmvlpuda.utils import load_config
from seg_data import TINY_DLV2

SIZE = 32


def at_iter(iteration: int) -> None:
    """Set the runner's clock the segmentors read (``current_iter``), as
    mmengine's loop does before each training iteration."""
    MessageHub.get_current_instance().update_info('iter', iteration)


def build(config='gta2cs_dlv2_finetune', **options):
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs', 'seg', f'{config}.py'),
        dict(TINY_DLV2, **options))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def packed(n, labeled=True, seed=0, size=SIZE):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(
            torch.randint(
                0, 256, (3, size, size), generator=g, dtype=torch.uint8))
        sample = SegDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        if labeled:
            label = torch.zeros(1, size, size, dtype=torch.long)
            label[:, :, size // 2:] = 13  # two classes: road | car
            label[:, :2] = 255
            sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def batch(model, n=2, size=SIZE):
    data = dict(
        source=packed(n, size=size),
        target=packed(n, labeled=False, seed=1, size=size))
    return model.data_preprocessor(data, True)


def params(module):
    return {n: p.detach().clone() for n, p in module.named_parameters()}


@pytest.fixture(scope='module')
def dacs():
    return build()


def test_losses_and_only_the_student_gets_gradients():
    model = build()
    at_iter(0)
    losses = model(**batch(model), mode='loss')
    assert {
        'src.decode.loss_ce', 'mix.decode.loss_ce', 'src.loss_imnet_feat_dist',
        'pseudo_weight'
    } <= set(losses)
    assert 0. <= float(losses['pseudo_weight']) <= 1.
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is None for p in model.ema_model.parameters())
    assert all(p.grad is None for p in model.imnet_model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.model.decode_head.parameters())


def test_ema_teacher_follows_daformer_rule():
    model = build()
    opt = torch.optim.SGD(model.model.parameters(), lr=0.1)
    data = batch(model)
    at_iter(0)
    model(**data, mode='loss')  # iteration 0: teacher := student
    student0 = params(model.model)
    for n, p in model.ema_model.named_parameters():
        assert torch.equal(p, student0[n]), n
    # iteration 1 (momentum 0.5) sees the unchanged student, then a real
    # step moves the student; iteration 2 uses min(1 - 1/3, 0.999) = 2/3
    at_iter(1)
    losses = model(**batch(model), mode='loss')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    opt.step()
    teacher1 = params(model.ema_model)
    student1 = params(model.model)
    at_iter(2)
    model(**data, mode='loss')
    for n, p in model.ema_model.named_parameters():
        expected = 2 / 3 * teacher1[n] + 1 / 3 * student1[n]
        assert torch.allclose(p, expected, atol=1e-6), n


def test_plain_mmseg_checkpoint_loads_into_student_and_teacher():
    source = build().model.state_dict()  # a plain EncoderDecoder state
    model = build()
    model.load_state_dict(source, strict=False)
    for n, v in source.items():
        assert torch.equal(model.model.state_dict()[n], v)
        assert torch.equal(model.ema_model.state_dict()[n], v)
    # a UDA checkpoint (prefixed keys) loads as it is
    again = build()
    again.load_state_dict(model.state_dict())
    for n, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[n], v), n


def test_iteration_is_the_runners_and_old_counters_are_ignored():
    """The EMA warm-up and the iteration-0 copies follow mmengine's
    ``iter`` (restored by ``--resume``); DACS keeps no counter of its own,
    and the ``local_iter`` buffer of older checkpoints loads (strictly)
    and is dropped."""
    model = build()
    assert not any('local_iter' in k for k in model.state_dict())
    old = dict(model.state_dict(), local_iter=torch.tensor(1234))
    model.load_state_dict(old, strict=True)
    assert 'local_iter' in old  # the caller's dict is left as it was
    with torch.no_grad():  # teacher != student
        for p in model.ema_model.parameters():
            p.add_(1.)
    teacher = params(model.ema_model)
    at_iter(5)  # a resumed run: no copy, momentum min(1 - 1/6, 0.999)
    model(**batch(model), mode='loss')
    student = params(model.model)
    for n, p in model.ema_model.named_parameters():
        expected = 5 / 6 * teacher[n] + 1 / 6 * student[n]
        assert torch.allclose(p, expected, atol=1e-6), n


def test_alpha_is_a_deprecated_name_of_ema_momentum():
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs', 'seg', 'gta2cs_dlv2_finetune.py'),
        dict(TINY_DLV2, **{'model.imnet_feature_dist_lambda': 0.})).model
    with warnings.catch_warnings():
        warnings.simplefilter('error', DeprecationWarning)
        assert MODELS.build(cfg).ema_momentum == 0.999
    with pytest.raises(
            TypeError,
            match='both `ema_momentum` and its '
            'deprecated name `alpha`'):
        MODELS.build(dict(cfg, alpha=0.9))
    cfg.pop('ema_momentum')
    with pytest.warns(
            DeprecationWarning,
            match='DACS: `alpha` is deprecated, use '
            '`ema_momentum`'):
        model = MODELS.build(dict(cfg, alpha=0.9))
    assert model.ema_momentum == 0.9 and not hasattr(model, 'alpha')


def test_pixel_weights_and_mask_classification_are_explicit(dacs):
    """DLV2Head declares ``supports_seg_weight``; it is no mask-
    classification head (pseudo_label.is_mask_classification)."""
    assert dacs.pixel_weights and not dacs.mask_classification


def test_classmix_pastes_source_labels_and_weights(dacs):
    """Source pixels of whole classes (of the batch pool {0, 13, 255},
    DAFormer ``dacs_transforms.py:90-99``) replace target pixels in the
    labels, weights (1 on source pixels) and images."""
    data = batch(dacs)
    target_labels = torch.full((2, SIZE, SIZE), 7, dtype=torch.long)
    weight = torch.full((2, SIZE, SIZE), 0.25)
    src = torch.stack(
        [s.gt_sem_seg.data[0] for s in data['source']['data_samples']])
    pasted = torch.zeros(2, SIZE, SIZE, dtype=torch.bool)
    torch.manual_seed(0)
    for _ in range(6):
        images, mixed_weight, mixed = dacs.mix(data['source'], data['target'],
                                               weight, target_labels)
        from_source = mixed_weight == 1.
        assert torch.equal(mixed[from_source], src[from_source])
        assert torch.all(mixed[~from_source] == 7)
        assert torch.all(mixed_weight[~from_source] == 0.25)
        for i in range(2):
            for cls in src[i].unique():
                assert from_source[i][src[i] == cls].unique().numel() == 1
        assert images.shape == data['target']['inputs'].shape
        pasted |= from_source
        assert (~from_source).any()  # 2 of the 3 pool values per image
    assert pasted.all()  # over draws, every class (and 255) gets pasted


def test_mix_decides_jitter_and_blur_once_per_batch(dacs):
    """DAFormer draws ``color_jitter`` and ``blur`` once per batch
    (``mmseg/models/uda/dacs.py:223-231``) and applies them to every image
    (lines 293-298): the images of a batch are all augmented or all
    plain ClassMix composites."""
    data = batch(dacs, n=4)
    weight = torch.full((4, SIZE, SIZE), 0.5)
    labels = torch.zeros(4, SIZE, SIZE, dtype=torch.long)
    src, tgt = data['source']['inputs'], data['target']['inputs']
    outcomes = set()
    torch.manual_seed(0)
    for _ in range(40):
        images, mixed_weight, _ = dacs.mix(data['source'], data['target'],
                                           weight, labels)
        plain = one_mix((mixed_weight == 1.).float()[:, None], src, tgt)
        changed = {not torch.equal(a, b) for a, b in zip(images, plain)}
        assert len(changed) == 1
        outcomes |= changed
    assert outcomes == {True, False}  # P(no jitter, no blur) = 0.2 * 0.5


def test_unweighted_heads_ignore_zero_weight_pixels_and_scale(dacs):
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    weight = torch.full((1, 4, 4), 0.5)
    weight[0, 0] = 0.
    out, scale = dacs.ignore_unweighted(labels, weight)
    assert torch.all(out[0, 0] == dacs.ignore_index)
    assert torch.all(out[0, 1:] == 0) and float(scale) == 0.5


def test_feature_distance_on_thing_cells():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, :4, :4] = 11  # one full thing cell
    labels[0, 4:, 4:6] = 13  # half a cell: below the 0.75 ratio
    cells = downscale_label_ratio(labels, (2, 2), 0.75, 19)
    assert cells.tolist() == [[[11, 0], [0, 255]]]
    feat = torch.zeros(1, 3, 2, 2)
    feat[0, :, 0, 0] = torch.tensor([3., 4., 0.])
    mask = cells == 11
    assert float(feature_distance(feat, torch.zeros_like(feat), mask)) == 5.
    assert float(feature_distance(feat, torch.zeros_like(feat))) == 1.25


def _counted(module):
    """Patch ``module.forward`` with a call counter (a mock wrapping it)."""
    return mock.patch.object(module, 'forward', wraps=module.forward)


def test_feature_distance_reuses_the_source_features():
    """DAFormer ``mmseg/models/uda/dacs.py:234-236,249-251``: the source
    loss runs with ``return_feat=True`` and ``calc_feat_dist(img, gt,
    src_feat)`` reuses those features. Per training step the student's
    backbone runs twice (source, mixed), its BN statistics are updated
    twice, the frozen ImageNet model and the EMA teacher once each."""
    model = build()
    data = batch(model)
    bn = next(m for m in model.model.backbone.modules()
              if isinstance(m, _BatchNorm))
    for step in range(2):
        at_iter(step)
        tracked = int(bn.num_batches_tracked)
        with _counted(model.model.backbone) as student, \
                _counted(model.imnet_model.backbone) as imnet, \
                _counted(model.ema_model.backbone) as ema:
            losses = model(**data, mode='loss')
        assert 'src.loss_imnet_feat_dist' in losses
        assert (student.call_count, imnet.call_count,
                ema.call_count) == (2, 1, 1), step
        assert int(bn.num_batches_tracked) == tracked + 2


def test_feature_distance_value_and_gradient_unchanged_by_reuse():
    """The reused features give the FD loss and gradient of a separate
    student pass (the former computation; train-mode BN normalises with
    the batch statistics either way)."""
    model = build()
    data = batch(model)
    at_iter(0)
    model(**data, mode='loss')  # iteration 0: ImageNet model := student
    with torch.no_grad():  # make the student differ from the ImageNet copy
        for p in model.model.backbone.parameters():
            p.add_(0.01 * torch.randn_like(p))
    params = [p for p in model.model.backbone.parameters() if p.requires_grad]
    at_iter(1)
    reused = model(**data, mode='loss')['src.loss_imnet_feat_dist']
    inputs = data['source']['inputs']
    samples = data['source']['data_samples']
    separate = model._imnet_feature_loss(inputs, samples,
                                         model.model.extract_feat(inputs)[-1])
    assert float(reused) > 0
    assert torch.allclose(reused, separate, rtol=1e-5, atol=0)
    for g_new, g_old in zip(
            torch.autograd.grad(reused, params),
            torch.autograd.grad(separate, params)):
        assert torch.allclose(g_new, g_old, rtol=1e-4, atol=1e-9)
