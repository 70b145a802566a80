from .data_preprocessor import CLIP_MEAN, CLIP_STD, UDADataPreprocessor
from .open_clip_loader import create_open_clip, resolve_arch

__all__ = [
    'UDADataPreprocessor', 'CLIP_MEAN', 'CLIP_STD', 'create_open_clip',
    'resolve_arch'
]
