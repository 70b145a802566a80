# mmseg/mmdet (imported below) need mmcv's compiled ops or the stand-in
from mmvlpuda.utils.compat import require_mmcv_ops

require_mmcv_ops()

from .bundled_digits import DIGIT_CLASSES, BundledDigitsDataset  # noqa: E402
from .class_subset import ClassSubsetDataset  # noqa: E402
from .domain_dataset import build_domain_dataset  # noqa: E402
from .domain_folder import DomainFolderDataset, ImageLoadError  # noqa: E402
from .holdout import HoldoutMixin, holdout_indices, parse_holdout  # noqa: E402
from .image_list import ImageListDataset  # noqa: E402
from .seg import rcs_class_probs  # noqa: E402
from .seg import ACDCDataset, GTADataset, UDASegDataset  # noqa: E402
from .torchvision_digits import TorchvisionDigitsDataset  # noqa: E402
from .transforms import TimmRandAugment  # noqa: E402
from .uda_dataset import UDADataset  # noqa: E402
from .uda_sampler import UDAInfiniteSampler  # noqa: E402

__all__ = [
    'DomainFolderDataset', 'UDADataset', 'UDAInfiniteSampler',
    'BundledDigitsDataset', 'DIGIT_CLASSES', 'ImageLoadError',
    'ClassSubsetDataset', 'TimmRandAugment', 'ImageListDataset',
    'TorchvisionDigitsDataset', 'HoldoutMixin', 'holdout_indices',
    'parse_holdout', 'build_domain_dataset', 'GTADataset', 'ACDCDataset',
    'UDASegDataset', 'rcs_class_probs'
]
