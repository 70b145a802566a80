"""The FixMatch strong view: timm's RandAugment wrapped as an mmcv transform
and the official strong pipeline of the FixMatch configs."""
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from PIL import Image
from timm.data.auto_augment import RandAugment

from conftest import REPO_ROOT
from mmvlpuda.datasets.transforms import CLIP_MEAN_255, TimmRandAugment
from mmvlpuda.registry import TRANSFORMS

STRONG_BASE = osp.join(REPO_ROOT, 'configs/_base_/datasets/fixmatch_strong.py')


def _seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _image(h=48, w=40):
    rng = np.random.default_rng(0)
    # smooth-ish content so geometric ops visibly move pixels
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    img[:h // 2] //= 2
    return img


def _augment(transform, img, seed):
    _seed(seed)
    return transform(dict(img=img.copy()))['img']


def test_wraps_timm_rand_augment_with_official_hparams():
    t = TRANSFORMS.build(dict(type='TimmRandAugment'))
    assert isinstance(t, TimmRandAugment)
    ra = t.rand_augment
    assert isinstance(ra, RandAugment)  # timm's own implementation
    assert ra.num_layers == 2 and len(ra.ops) == 15
    for op in ra.ops:
        assert op.prob == 0.5 and op.magnitude == 10
        assert op.magnitude_std == 0.5
        assert op.kwargs['fillcolor'] == CLIP_MEAN_255 == (123, 117, 104)
    assert t.hparams['translate_const'] == 100


def test_changes_image_deterministically_keeping_shape_and_dtype():
    t = TimmRandAugment()
    img = _image()
    outs = [_augment(t, img, seed) for seed in range(6)]
    for out in outs:
        assert out.shape == img.shape and out.dtype == np.uint8
    assert any(not np.array_equal(out, img) for out in outs)
    # same seed, same result
    assert np.array_equal(_augment(t, img, 3), outs[3])
    # different seeds give different results
    assert len({out.tobytes() for out in outs}) > 1


def test_bgr_rgb_round_trip():
    """timm sees an RGB PIL image; the result is returned as BGR."""
    t = TimmRandAugment()
    seen = {}

    def fake_ra(pil):
        seen['mode'] = pil.mode
        seen['pixel'] = pil.getpixel((0, 0))
        return pil.point(lambda v: 255 - v)  # invert

    t.rand_augment = fake_ra
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 10  # B
    img[..., 2] = 200  # R
    out = t(dict(img=img))['img']
    assert seen == dict(mode='RGB', pixel=(200, 0, 10))
    assert out[0, 0].tolist() == [245, 255, 55]  # inverted, still BGR


def test_rejects_non_colour_images():
    with pytest.raises(ValueError, match='uint8 BGR'):
        TimmRandAugment()(dict(img=np.zeros((8, 8), np.uint8)))


def test_official_strong_pipeline(tmp_path):
    cfg = Config.fromfile(STRONG_BASE)
    types = [t['type'] for t in cfg.target_strong_pipeline]
    assert types == [
        'LoadImageFromFile', 'Resize', 'CenterCrop', 'RandomFlip',
        'mmpretrain.ColorJitter', 'TimmRandAugment', 'mmpretrain.PackInputs'
    ]
    jitter = cfg.target_strong_pipeline[4]
    assert (jitter.brightness, jitter.contrast, jitter.saturation,
            jitter.hue) == (0.4, 0.4, 0.4, 0.)
    assert cfg.target_strong_pipeline[5].config_str == 'rand-n2-m10-mstd0.5'

    path = str(tmp_path / 'x.jpg')
    Image.fromarray(_image(60, 80)).save(path)
    pipeline = Compose(
        [TRANSFORMS.build(t) for t in cfg.target_strong_pipeline])
    outs = []
    for seed in (0, 0, 1):
        _seed(seed)
        outs.append(pipeline(dict(img_path=path))['inputs'])
    assert outs[0].shape == (3, 224, 224) and outs[0].dtype == torch.uint8
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])
