from .data_preprocessor import CLIP_MEAN, CLIP_STD, UDADataPreprocessor
from .open_clip_loader import create_open_clip, resolve_arch

__all__ = [
    'UDADataPreprocessor', 'CLIP_MEAN', 'CLIP_STD', 'create_open_clip',
    'resolve_arch'
]
from .dacs_transforms import (apply_flags, blur_kernel_size,  # noqa: E402
                              class_mix_masks, color_jitter, ema_momentum,
                              gaussian_blur, one_mix, pseudo_label_and_weight,
                              strong_transform, update_ema_)

__all__ += [
    'apply_flags', 'blur_kernel_size', 'class_mix_masks', 'color_jitter',
    'ema_momentum', 'gaussian_blur', 'one_mix', 'pseudo_label_and_weight',
    'strong_transform', 'update_ema_'
]
