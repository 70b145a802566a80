"""Semantic segmentation datasets for UDA (GTA5, ACDC, UDA pairs with Rare
Class Sampling) on top of mmseg 1.x."""
from .acdc import ACDC_CONDITIONS, ACDCDataset
from .gta import (GTA_ID_TO_TRAINID, GTADataset, convert_gta_label,
                  convert_gta_labels)
from .layout import SegLayoutCheckMixin
from .rcs import (RareClassSampler, compute_class_stats,
                  group_samples_by_class, load_class_stats, rcs_class_probs,
                  write_rcs_stats)
from .uda_seg_dataset import UDASegDataset, strip_seg_labels

__all__ = [
    'GTADataset', 'ACDCDataset', 'ACDC_CONDITIONS', 'UDASegDataset',
    'SegLayoutCheckMixin', 'GTA_ID_TO_TRAINID', 'convert_gta_label',
    'convert_gta_labels', 'RareClassSampler', 'compute_class_stats',
    'group_samples_by_class', 'load_class_stats', 'rcs_class_probs',
    'write_rcs_stats', 'strip_seg_labels'
]
