"""GTA5 (synthetic driving scenes, 19 Cityscapes classes) and its label
conversion from Cityscapes label ids to train ids."""
import os
import os.path as osp
from multiprocessing import Pool
from typing import List, Optional

import numpy as np
from mmseg.datasets import CityscapesDataset
from PIL import Image

from mmvlpuda.registry import DATASETS
from mmvlpuda.utils.atomic import save_label_png_atomic
from .layout import SegLayoutCheckMixin

TRAIN_ID_SUFFIX = '_labelTrainIds.png'

#: Cityscapes label id -> train id (19 classes); every other id -> 255
CITYSCAPES_ID_TO_TRAIN_ID = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18
}


def _id_to_train_id_lut() -> np.ndarray:
    lut = np.full(256, 255, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_ID_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    return lut


#: ``GTA_ID_TO_TRAINID[label_ids]`` converts a uint8 label-id map at once
GTA_ID_TO_TRAINID = _id_to_train_id_lut()


@DATASETS.register_module()
class GTADataset(SegLayoutCheckMixin, CityscapesDataset):
    """GTA5 with Cityscapes' 19 classes (DAFormer's ``GTADataset``).

    Layout (labels converted by ``tools/dataset_converters/gta.py``)::

        data_root/images/00001.png
        data_root/labels/00001_labelTrainIds.png

    Args:
        img_suffix (str): Defaults to '.png'.
        seg_map_suffix (str): Defaults to '_labelTrainIds.png'.
        data_prefix (dict): Defaults to
            ``dict(img_path='images', seg_map_path='labels')``; drop
            ``seg_map_path`` for an unlabeled dataset.
        **kwargs: other arguments of mmseg's ``BaseSegDataset``.

    Example:
        >>> source = dict(
        ...     type='mmvlpuda.GTADataset', data_root='data/gta',
        ...     data_prefix=dict(img_path='images', seg_map_path='labels'),
        ...     pipeline=train_pipeline)
    """

    label_hint = ('convert the labels first: python '
                  'tools/dataset_converters/gta.py <data_root>')

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = TRAIN_ID_SUFFIX,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='images', seg_map_path='labels')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)


def read_label_ids(path: str) -> np.ndarray:
    """Read a GTA label PNG (paletted 'P' or 'L') as a uint8 id map."""
    with Image.open(path) as image:
        if image.mode not in ('P', 'L'):
            raise ValueError(f'{path}: expected a paletted (P) or grayscale '
                             f'(L) label-id PNG, got mode {image.mode}')
        return np.asarray(image, dtype=np.uint8)


def convert_gta_label(src: str, dst: Optional[str] = None) -> str:
    """Convert one label-id PNG to a train-id PNG ('L', uint8).

    Args:
        src (str): ``labels/<name>.png`` with Cityscapes label ids.
        dst (str, optional): output path. Defaults to
            ``labels/<name>_labelTrainIds.png``.

    Returns:
        str: the written path.
    """
    if dst is None:
        dst = src[:-len('.png')] + TRAIN_ID_SUFFIX
    save_label_png_atomic(GTA_ID_TO_TRAINID[read_label_ids(src)], dst)
    return dst


def list_raw_gta_labels(label_dir: str) -> List[str]:
    """Sorted ``*.png`` label-id files of ``label_dir`` (not train ids)."""
    if not osp.isdir(label_dir):
        raise ValueError(f'GTA label directory {label_dir!r} does not exist '
                         '(expected labels/<name>.png label-id files)')
    names = sorted(
        n for n in os.listdir(label_dir)
        if n.endswith('.png') and not n.endswith(TRAIN_ID_SUFFIX))
    return [osp.join(label_dir, n) for n in names]


def convert_gta_labels(data_root: str,
                       label_dir: str = 'labels',
                       nproc: int = 1) -> List[str]:
    """Convert every ``<data_root>/<label_dir>/<name>.png`` to train ids.

    Files already ending in ``_labelTrainIds.png`` are skipped, so running
    it twice gives the same files.

    Args:
        data_root (str): GTA root.
        label_dir (str): label folder relative to ``data_root``.
        nproc (int): worker processes (a pool only if > 1).

    Returns:
        list[str]: the written train-id files.
    """
    sources = list_raw_gta_labels(osp.join(data_root, label_dir))
    if nproc > 1 and len(sources) > 1:
        with Pool(min(nproc, len(sources))) as pool:
            return pool.map(convert_gta_label, sources, chunksize=8)
    return [convert_gta_label(src) for src in sources]
