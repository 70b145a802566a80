from .bundled_digits import DIGIT_CLASSES, BundledDigitsDataset
from .domain_folder import DomainFolderDataset, ImageLoadError
from .uda_dataset import UDADataset
from .uda_sampler import UDAInfiniteSampler

__all__ = [
    'DomainFolderDataset', 'UDADataset', 'UDAInfiniteSampler',
    'BundledDigitsDataset',
    'DIGIT_CLASSES', 'ImageLoadError'
]
from .class_subset import ClassSubsetDataset  # noqa: E402
from .transforms import TimmRandAugment  # noqa: E402

__all__ += ['ClassSubsetDataset', 'TimmRandAugment']
from .holdout import HoldoutMixin, holdout_indices, parse_holdout  # noqa: E402
from .image_list import ImageListDataset  # noqa: E402
from .domain_dataset import build_domain_dataset  # noqa: E402
from .torchvision_digits import TorchvisionDigitsDataset  # noqa: E402

__all__ += [
    'ImageListDataset', 'TorchvisionDigitsDataset', 'HoldoutMixin',
    'holdout_indices', 'parse_holdout', 'build_domain_dataset'
]
from .seg import (ACDCDataset, GTADataset, UDASegDataset,  # noqa: E402
                  rcs_class_probs)

__all__ += ['GTADataset', 'ACDCDataset', 'UDASegDataset', 'rcs_class_probs']
