"""Behaviour of ``UDADataPreprocessor`` on paired (source/target) and plain
batches."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseDataPreprocessor
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample
from PIL import Image

import mmvlpuda  # noqa: F401  (registers modules, compat fixes)
from mmvlpuda.registry import DATASETS, MODELS

# OpenAI CLIP statistics (RGB order, [0, 1] scale)
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073]) * 255
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711]) * 255


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmvlpuda')


def build(**kwargs):
    return MODELS.build(dict(type='UDADataPreprocessor', **kwargs))


def images(n, h=6, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
        for _ in range(n)
    ]


def paired_batch(n_src=2, n_tgt=3, h=6, w=5):
    return {
        'source': {
            'inputs':
            images(n_src, h, w, seed=1),
            'data_samples':
            [DataSample().set_gt_label(i % 10) for i in range(n_src)],
        },
        'target': {
            'inputs': images(n_tgt, h, w, seed=2),
            'data_samples': [DataSample() for _ in range(n_tgt)],
        },
    }


def expected_normalised(img_bgr_uint8):
    """BGR uint8 (3, H, W) -> RGB, CLIP-normalised float."""
    rgb = img_bgr_uint8.flip(0).double()
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    return ((rgb - mean) / std).float()


# ---------------------------------------------------------------- paired


def test_paired_batch_gives_per_branch_normalised_stacks():
    batch = paired_batch(n_src=2, n_tgt=3, h=6, w=5)
    src_imgs = [x.clone() for x in batch['source']['inputs']]
    tgt_imgs = [x.clone() for x in batch['target']['inputs']]

    out = build()(batch, training=True)

    assert set(out) == {'source', 'target'}
    for branch, n, raw in (('source', 2, src_imgs), ('target', 3, tgt_imgs)):
        inputs = out[branch]['inputs']
        assert isinstance(inputs, torch.Tensor)
        assert inputs.dtype == torch.float32
        assert inputs.shape == (n, 3, 6, 5)
        for i in range(n):
            torch.testing.assert_close(
                inputs[i], expected_normalised(raw[i]), rtol=1e-5, atol=1e-5)
        assert len(out[branch]['data_samples']) == n


def test_data_samples_keep_their_branch_labels():
    out = build()(paired_batch(n_src=3, n_tgt=2))
    src_labels = [int(s.gt_label) for s in out['source']['data_samples']]
    assert src_labels == [0, 1, 2]
    assert not any('gt_label' in s for s in out['target']['data_samples'])


@pytest.mark.parametrize('bgr_channel', [0, 1, 2])
def test_single_saturated_channel_maps_to_the_swapped_rgb_channel(bgr_channel):
    img = torch.zeros(3, 4, 4, dtype=torch.uint8)
    img[bgr_channel, 1, 2] = 255
    batch = {
        'source': {
            'inputs': [img],
            'data_samples': [DataSample().set_gt_label(0)]
        },
        'target': {
            'inputs': [img.clone()],
            'data_samples': [DataSample()]
        },
    }
    out = build()(batch)
    rgb_channel = 2 - bgr_channel
    for branch in ('source', 'target'):
        pixel = out[branch]['inputs'][0, :, 1, 2].double().numpy()
        expected = -CLIP_MEAN / CLIP_STD
        expected[rgb_channel] = (
            255 - CLIP_MEAN[rgb_channel]) / CLIP_STD[rgb_channel]
        np.testing.assert_allclose(pixel, expected, rtol=1e-5)
        # an untouched pixel is the normalised black everywhere
        np.testing.assert_allclose(
            out[branch]['inputs'][0, :, 0, 0].double().numpy(),
            -CLIP_MEAN / CLIP_STD,
            rtol=1e-5)


def test_branches_may_have_different_sizes_and_image_shapes():
    batch = {
        'source': {
            'inputs': images(4, 8, 8),
            'data_samples': [DataSample().set_gt_label(1)] * 4
        },
        'target': {
            'inputs': images(1, 10, 6),
            'data_samples': [DataSample()]
        },
    }
    out = build()(batch)
    assert out['source']['inputs'].shape == (4, 3, 8, 8)
    assert out['target']['inputs'].shape == (1, 3, 10, 6)


# ---------------------------------------------------------------- plain


def test_plain_batch_goes_straight_through_inner_preprocessor():
    pre = build()
    batch = paired_batch()['source']
    expected = pre.preprocessor(
        {
            'inputs': [x.clone() for x in batch['inputs']],
            'data_samples': batch['data_samples']
        }, False)

    out = pre(batch)
    assert set(out) == {'inputs', 'data_samples'}
    assert out['inputs'].shape == (2, 3, 6, 5)
    torch.testing.assert_close(out['inputs'], expected['inputs'])
    assert [int(s.gt_label) for s in out['data_samples']] == [0, 1]


def test_plain_batch_is_normalised_like_a_branch():
    pre = build()
    paired = pre(paired_batch())
    plain = pre(paired_batch()['source'])
    torch.testing.assert_close(plain['inputs'], paired['source']['inputs'])


# ---------------------------------------------------------------- options


def test_custom_inner_preprocessor_config():
    pre = build(
        preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor',
            mean=[0., 0., 0.],
            std=[1., 1., 1.],
            to_rgb=False))
    batch = paired_batch()
    raw = batch['target']['inputs'][1].clone()
    out = pre(batch)
    torch.testing.assert_close(out['target']['inputs'][1], raw.float())


class RecordingPreprocessor(BaseDataPreprocessor):
    """Records the ``training`` flag of every call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, data, training=False):
        self.calls.append((len(data['inputs']), training))
        return dict(
            inputs=torch.stack(data['inputs']).float() * 0 + 7,
            data_samples=data['data_samples'])


@pytest.mark.parametrize('training', [True, False])
def test_preprocessor_object_and_training_flag_reach_every_branch(training):
    inner = RecordingPreprocessor()
    pre = build(preprocessor=inner)
    assert pre.preprocessor is inner

    out = pre(paired_batch(n_src=2, n_tgt=3), training=training)
    assert sorted(inner.calls) == [(2, training), (3, training)]
    assert (out['source']['inputs'] == 7).all()
    assert (out['target']['inputs'] == 7).all()

    inner.calls.clear()
    pre(paired_batch()['source'], training=training)
    assert inner.calls == [(2, training)]


# ---------------------------------------------------------------- end to end


def test_uda_dataset_batch_end_to_end(tmp_path):
    for domain in ('Art', 'Clipart'):
        for name, colour in (('a', (255, 0, 0)), ('b', (0, 0, 255))):
            d = osp.join(str(tmp_path), domain, name)
            os.makedirs(d)
            arr = np.empty((12, 14, 3), np.uint8)
            arr[:] = colour
            Image.fromarray(arr).save(osp.join(d, '0.png'))
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(8, 8), keep_ratio=False),
        dict(type='mmpretrain.PackInputs'),
    ]
    domain_ds = dict(
        type='DomainFolderDataset',
        data_root=str(tmp_path),
        classes=['a', 'b'],
        pipeline=pipeline)
    ds = DATASETS.build(
        dict(
            type='UDADataset',
            source=dict(domain_ds, domain='Art'),
            target=dict(domain_ds, domain='Clipart'),
            seed=0))
    batch = pseudo_collate([ds[i] for i in range(len(ds))] * 2)

    out = build()(batch, training=True)
    assert out['source']['inputs'].shape == (4, 3, 8, 8)
    assert out['target']['inputs'].shape == (4, 3, 8, 8)
    # source sample k is the pure-red ('a') or pure-blue ('b') image in RGB
    for img, sample in zip(out['source']['inputs'],
                           out['source']['data_samples']):
        rgb = (255, 0, 0) if int(sample.gt_label) == 0 else (0, 0, 255)
        expected = (np.array(rgb) - CLIP_MEAN) / CLIP_STD
        np.testing.assert_allclose(
            img.mean(dim=(1, 2)).double().numpy(), expected, atol=1e-4)
