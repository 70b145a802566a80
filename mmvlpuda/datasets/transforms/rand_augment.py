"""timm's RandAugment as an mmcv transform (strong view of FixMatch, paper
App. B)."""
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image
from timm.data.auto_augment import rand_augment_transform

from mmvlpuda.registry import TRANSFORMS

# CLIP mean in 0..255, the fill colour of the official strong augmentation
CLIP_MEAN_255 = tuple(
    min(255, round(255 * x)) for x in (0.48145466, 0.4578275, 0.40821073))


@TRANSFORMS.register_module()
class TimmRandAugment(BaseTransform):
    """RandAugment from ``timm.data.auto_augment.rand_augment_transform``.

    Runs timm's own implementation (not a copy) on ``results['img']``: the
    mmcv BGR ``uint8`` array is converted to a PIL RGB image, augmented and
    converted back, so shape and dtype are kept.

    The default ``'rand-n2-m10-mstd0.5'`` is the official strong view: 2 of
    timm's 15 RandAugment ops, each applied with probability 0.5, magnitude
    ~ N(10, 0.5) clipped to [0, 10], geometric ops filled with the CLIP mean
    and a random bilinear/bicubic resampling.

    Randomness comes from Python's ``random`` and numpy's global generator
    (timm's choice), both seeded per dataloader worker by mmengine.

    Args:
        config_str (str): timm RandAugment spec. Defaults to
            ``'rand-n2-m10-mstd0.5'``.
        img_mean (Sequence[int]): RGB fill colour (0..255) of geometric ops.
            Defaults to the CLIP mean (123, 117, 104).
        translate_const (int): timm's absolute-translation constant; the
            official code uses ``int(224 * 0.45) = 100`` (only used by
            absolute translate ops, which the default op set does not use).
        hparams (dict, optional): extra timm hparams (e.g.
            ``interpolation``, ``translate_pct``), merged last.

    Example:
        >>> strong_pipeline = [
        ...     dict(type='LoadImageFromFile'),
        ...     dict(type='Resize', scale=(256, 256), keep_ratio=False),
        ...     dict(type='CenterCrop', crop_size=224),
        ...     dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        ...     dict(type='mmpretrain.ColorJitter', brightness=0.4,
        ...          contrast=0.4, saturation=0.4),
        ...     dict(type='TimmRandAugment'),
        ...     dict(type='mmpretrain.PackInputs')]
    """

    def __init__(self,
                 config_str: str = 'rand-n2-m10-mstd0.5',
                 img_mean: Sequence[int] = CLIP_MEAN_255,
                 translate_const: int = 100,
                 hparams: Optional[dict] = None):
        self.config_str = config_str
        self.hparams = dict(
            translate_const=int(translate_const),
            img_mean=tuple(int(v) for v in img_mean))
        self.hparams.update(hparams or {})
        if 'img_mean' in self.hparams:
            self.hparams['img_mean'] = tuple(
                int(v) for v in self.hparams['img_mean'])
        # timm mutates the hparams it is given (setdefault): pass a copy
        self.rand_augment = rand_augment_transform(config_str,
                                                   dict(self.hparams))

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError('TimmRandAugment needs an (H, W, 3) uint8 BGR '
                             f'image, got {img.dtype} of shape {img.shape}')
        pil = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
        out = np.asarray(self.rand_augment(pil))[..., ::-1]
        results['img'] = np.ascontiguousarray(out)
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(config_str='{self.config_str}', "
                f'hparams={self.hparams})')
