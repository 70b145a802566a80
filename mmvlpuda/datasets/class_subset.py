from typing import List, Sequence, Union

import numpy as np
from torch.utils.data import Dataset

from mmvlpuda.registry import DATASETS


@DATASETS.register_module()
class ClassSubsetDataset(Dataset):
    """Keep only the samples of some classes, in the FULL label space.

    Partial-set DA (paper App. K) trains on a source with all classes and a
    target containing only a subset; labels, prompts and heads keep the full
    label space, so ``metainfo`` (and every ``gt_label``) is the wrapped
    dataset's. Works with any dataset that has ``metainfo['classes']`` and
    ``get_data_info(i)['gt_label']`` (mmpretrain/mmengine datasets, e.g.
    :class:`DomainFolderDataset`). Office-Home 65→25 keeps the first 25
    classes of the case-sensitive sorted class names (official protocol).

    Args:
        dataset (dict | Dataset): the full dataset (config or object).
        classes (Sequence[str | int]): kept classes, by name or label index.

    Example:
        >>> target = dict(
        ...     type='ClassSubsetDataset', classes=sorted(classes)[:25],
        ...     dataset=dict(type='DomainFolderDataset', domain='Clipart',
        ...                  data_root=root, classes=classes,
        ...                  pipeline=train_pipeline))
    """

    def __init__(self, dataset: Union[dict, Dataset],
                 classes: Sequence[Union[str, int]]):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset,
                                                             dict) else dataset
        all_classes = list(self.dataset.metainfo.get('classes') or [])
        if not all_classes:
            raise ValueError('ClassSubsetDataset: the wrapped dataset has no '
                             "metainfo['classes'] (key `dataset`)")
        if not classes:
            raise ValueError('ClassSubsetDataset needs at least one class '
                             '(key `classes`)')
        self.kept_labels: List[int] = sorted(
            {self._label(c, all_classes)
             for c in classes})
        self._indices = None
        self._fully_initialized = False

    @staticmethod
    def _label(cls: Union[str, int], all_classes: List[str]) -> int:
        if isinstance(cls, str):
            if cls not in all_classes:
                raise ValueError(f"ClassSubsetDataset: class '{cls}' is not "
                                 'a class of the wrapped dataset (key '
                                 '`classes`)')
            return all_classes.index(cls)
        if not 0 <= int(cls) < len(all_classes):
            raise ValueError(f'ClassSubsetDataset: label {cls} out of range '
                             f'[0, {len(all_classes)}) (key `classes`)')
        return int(cls)

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    @property
    def kept_classes(self) -> List[str]:
        classes = self.metainfo['classes']
        return [classes[i] for i in self.kept_labels]

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        if hasattr(self.dataset, 'get_gt_labels'):
            labels = np.asarray(self.dataset.get_gt_labels())
        else:
            labels = np.asarray([
                int(self.dataset.get_data_info(i)['gt_label'])
                for i in range(len(self.dataset))
            ])
        self._indices = np.flatnonzero(np.isin(labels, self.kept_labels))
        if len(self._indices) == 0:
            raise ValueError('ClassSubsetDataset: no sample of the kept '
                             f'classes {self.kept_classes}')
        self._fully_initialized = True

    @property
    def indices(self) -> np.ndarray:
        """Indices of the kept samples in the wrapped dataset."""
        self.full_init()
        return self._indices

    def __len__(self) -> int:
        return len(self.indices)

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(int(self.indices[idx]))

    def __getitem__(self, idx: int):
        return self.dataset[int(self.indices[idx])]
