from .dacs_transforms import (apply_flags, blur_kernel_size, class_mix_masks,
                              color_jitter, gaussian_blur, one_mix,
                              strong_transform)
from .data_preprocessor import CLIP_MEAN, CLIP_STD, UDADataPreprocessor
from .iteration import current_iter
from .open_clip_loader import create_open_clip, resolve_arch

__all__ = [
    'UDADataPreprocessor', 'CLIP_MEAN', 'CLIP_STD', 'create_open_clip',
    'resolve_arch', 'apply_flags', 'blur_kernel_size', 'class_mix_masks',
    'color_jitter', 'current_iter', 'gaussian_blur', 'one_mix',
    'strong_transform'
]
