from .bundled_digits import DIGIT_CLASSES, BundledDigitsDataset
from .domain_folder import DomainFolderDataset, ImageLoadError
from .uda_dataset import UDADataset

__all__ = [
    'DomainFolderDataset', 'UDADataset', 'BundledDigitsDataset',
    'DIGIT_CLASSES', 'ImageLoadError'
]
