from .cmkd_segmentor import CMKDSegmentor, image_confidence
from .dacs import DACS

__all__ = ['DACS', 'CMKDSegmentor', 'image_confidence']
