"""Tiny Cityscapes / GTA5 / ACDC trees for tests (helper, not a test file).

``make_seg_trees(root)`` writes 64x128 RGB images and single-channel label
maps (train ids 0-18, 255 = ignore in the top rows) built from class
blocks: the COMMON classes fill every label as vertical stripes, the RARE
classes are small 8x8 blocks in one image per set, so Rare Class Sampling
has clearly rare classes (use a small ``min_pixels``, e.g. 20: a rare block
has 64 pixels, DAFormer's 3000 exceeds a whole stripe). GTA labels are also
written as raw Cityscapes label ids (paletted and grayscale PNGs) and
converted with ``convert_gta_labels``; GTA and Cityscapes (train) get RCS
statistics from ``write_rcs_stats``.

Layouts::

    cityscapes/leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png
    cityscapes/gtFine/{train,val}/<city>/..._gtFine_labelTrainIds.png
    gta/images/<5d>.png, gta/labels/<5d>.png, <5d>_labelTrainIds.png
    acdc/rgb_anon/<cond>/<split>/<seq>/<seq>_frame_<6d>_rgb_anon.png
    acdc/gt/<cond>/<split>/<seq>/<seq>_frame_<6d>_gt_labelTrainIds.png
    acdc_flat/rgb_anon/<split>/..._rgb_anon.png (DAFormer's flattened copy)
"""
import os
import os.path as osp

import numpy as np
from PIL import Image

from mmvlpuda.datasets.seg.gta import (CITYSCAPES_ID_TO_TRAIN_ID,
                                       convert_gta_labels)
from mmvlpuda.datasets.seg.rcs import write_rcs_stats

H, W = 64, 128
IGNORE_ROWS = 6
COMMON_CLASSES = (0, 1, 2, 8, 10, 13)
RARE_CLASSES = tuple(c for c in range(19) if c not in COMMON_CLASSES)
RARE_BLOCK = 8  # rare classes: RARE_BLOCK x RARE_BLOCK pixels
RARE_TOP = 28  # first row of the rare blocks

CITYSCAPES_SPLITS = dict(
    train=(('aachen', 2), ('bochum', 2)), val=(('frankfurt', 2), ))
GTA_NUM = 8  # image GTA_NUM (the last) holds all rare classes
ACDC_SEQS = dict(
    fog='GOPR0475', night='GOPR0351', rain='GOPR0400', snow='GOPR0122')
ACDC_SPLITS = dict(train=2, val=1)  # frames per condition
#: number of samples per (tree, split)
COUNTS = dict(
    cityscapes=dict(train=4, val=2), gta=GTA_NUM, acdc=dict(train=8, val=4))

# train id -> a Cityscapes label id (255 -> 0 'unlabeled')
_TRAIN_TO_ID = np.zeros(256, dtype=np.uint8)
for _label_id, _train_id in CITYSCAPES_ID_TO_TRAIN_ID.items():
    _TRAIN_TO_ID[_train_id] = _label_id


def make_label(rare=()) -> np.ndarray:
    """Common-class stripes + 8x8 blocks of the ``rare`` classes."""
    label = np.empty((H, W), dtype=np.uint8)
    bounds = np.linspace(0, W, len(COMMON_CLASSES) + 1).astype(int)
    for c, x0, x1 in zip(COMMON_CLASSES, bounds[:-1], bounds[1:]):
        label[:, x0:x1] = c
    for k, c in enumerate(rare):
        x0 = 2 + (RARE_BLOCK + 1) * k
        label[RARE_TOP:RARE_TOP + RARE_BLOCK, x0:x0 + RARE_BLOCK] = c
    label[:IGNORE_ROWS] = 255
    return label


def _save(array: np.ndarray, path: str, palette=False) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    image = Image.fromarray(array)
    if palette:  # 'L' -> 'P', pixel values kept as palette indices
        image.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    image.save(path)


def _pair(rng, img_path: str, lbl_path: str, rare=()) -> np.ndarray:
    _save(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), img_path)
    label = make_label(rare)
    _save(label, lbl_path)
    return label


def make_cityscapes(root: str, rng) -> str:
    """Cityscapes tree + RCS statistics of gtFine/train."""
    for split, cities in CITYSCAPES_SPLITS.items():
        for city, n in cities:
            for i in range(n):
                stem = f'{city}_{i:06d}_000019'
                rare = RARE_CLASSES if (split, city, i) == ('train', 'bochum',
                                                            1) else ()
                _pair(
                    rng, f'{root}/leftImg8bit/{split}/{city}/'
                    f'{stem}_leftImg8bit.png', f'{root}/gtFine/{split}/'
                    f'{city}/{stem}_gtFine_labelTrainIds.png', rare)
    write_rcs_stats(root, 'gtFine/train', '_gtFine_labelTrainIds.png')
    return root


def make_gta(root: str, rng) -> str:
    """GTA tree: raw label ids -> train ids (converter) + RCS statistics."""
    for i in range(1, GTA_NUM + 1):
        _save(
            rng.integers(0, 255, (H, W, 3), dtype=np.uint8),
            f'{root}/images/{i:05d}.png')
        ids = _TRAIN_TO_ID[make_label(RARE_CLASSES if i == GTA_NUM else ())]
        ids[0, :4] = (1, 4, 34, 6)  # ego vehicle, static, ... -> 255
        _save(ids, f'{root}/labels/{i:05d}.png', palette=i % 2 == 0)
    convert_gta_labels(root)
    write_rcs_stats(root, 'labels', '_labelTrainIds.png')
    return root


def make_acdc(root: str, flat_root: str, rng) -> None:
    """ACDC in the download layout and DAFormer's flattened copy."""
    for k, (cond, seq) in enumerate(ACDC_SEQS.items()):
        for split, n in ACDC_SPLITS.items():
            for i in range(n):
                stem = f'{seq}_frame_{41 + i:06d}'
                rare = RARE_CLASSES[k::4] if i == 0 else ()
                img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
                label = make_label(rare)
                for base, sub in ((root, f'{cond}/{split}/{seq}/'),
                                  (flat_root, f'{split}/')):
                    _save(img, f'{base}/rgb_anon/{sub}{stem}_rgb_anon.png')
                    _save(label, f'{base}/gt/{sub}{stem}_gt_labelTrainIds.png')


def make_seg_trees(root: str, seed: int = 0) -> dict:
    """Write all trees under ``root``.

    Returns:
        dict: ``dict(cityscapes=..., gta=..., acdc=..., acdc_flat=...)``
        root paths (str).
    """
    rng = np.random.default_rng(seed)
    paths = {
        name: osp.join(str(root), name)
        for name in ('cityscapes', 'gta', 'acdc', 'acdc_flat')
    }
    make_cityscapes(paths['cityscapes'], rng)
    make_gta(paths['gta'], rng)
    make_acdc(paths['acdc'], paths['acdc_flat'], rng)
    return paths


# Shrunk architectures of configs/seg (as --cfg-options keys) ---------------
# DeepLab-V2 on ResNet-V1c-18 (512 output channels), 32 px crops
TINY_DLV2 = {
    'resnet.depth': 18,
    'segmentor.pretrained': None,
    'segmentor.decode_head.in_channels': 512,
    'model.pseudo_weight_ignore_top': 2,
    'model.pseudo_weight_ignore_bottom': 4,
    'crop_size': (32, 32),
    'gta_scale': (128, 64),
    'cityscapes_scale': (128, 64),
    'warmup_iters': 1,
}
_H = 'segmentor.decode_head.'
_ENC = _H + 'pixel_decoder.encoder.layer_cfg.'
_DEC = _H + 'transformer_decoder.layer_cfg.'
# Mask2Former, same structure, tiny widths (GN needs multiples of 32)
TINY_M2F = {
    'segmentor.backbone.depth': 18,
    'segmentor.backbone.stem_channels': 16,
    'segmentor.backbone.base_channels': 16,
    'segmentor.backbone.init_cfg': None,
    _H + 'in_channels': [16, 32, 64, 128],
    _H + 'feat_channels': 32,
    _H + 'out_channels': 32,
    _H + 'num_queries': 8,
    _H + 'pixel_decoder.encoder.num_layers': 1,
    _ENC + 'self_attn_cfg.embed_dims': 32,
    _ENC + 'self_attn_cfg.num_heads': 4,
    _ENC + 'ffn_cfg.embed_dims': 32,
    _ENC + 'ffn_cfg.feedforward_channels': 64,
    _H + 'pixel_decoder.positional_encoding.num_feats': 16,
    _H + 'positional_encoding.num_feats': 16,
    _H + 'transformer_decoder.num_layers': 2,
    _DEC + 'self_attn_cfg.embed_dims': 32,
    _DEC + 'self_attn_cfg.num_heads': 4,
    _DEC + 'cross_attn_cfg.embed_dims': 32,
    _DEC + 'cross_attn_cfg.num_heads': 4,
    _DEC + 'ffn_cfg.embed_dims': 32,
    _DEC + 'ffn_cfg.feedforward_channels': 64,
    _H + 'train_cfg.num_points': 256,
    'crop_size': (64, 64),
    'acdc_scale': (128, 64),
    'cityscapes_scale': (128, 64),
}


def cli_options(opts: dict) -> list:
    """``--cfg-options`` strings of ``opts`` (DictAction syntax)."""
    out = []
    for key, value in opts.items():
        if isinstance(value, dict):
            out += [f'{key}.{k}={v}' for k, v in value.items()]
        elif isinstance(value, (tuple, list)):
            text = ','.join(str(v) for v in value)
            out.append(f'{key}=' + (
                f'({text})' if isinstance(value, tuple) else f'[{text}]'))
        else:
            out.append(f'{key}={value}')
    return out
