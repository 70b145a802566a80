import os
from typing import Optional, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import get_rank
from torch.utils.data import Dataset, get_worker_info

from mmvlpuda.registry import DATASETS


def _strip_labels(item):
    """Remove the label of a target item (packed or not)."""
    if not isinstance(item, dict):
        return item
    item.pop('gt_label', None)
    sample = item.get('data_samples')
    if sample is not None and 'gt_label' in sample:
        del sample.gt_label
    return item


@DATASETS.register_module()
class UDADataset(Dataset):
    """Pairs a labeled source dataset with an unlabeled target dataset.

    Item ``i`` is ``dict(source=source[i % len(source)], target=target[j])``
    with ``j`` drawn uniformly at random, so the sampler shuffles the source
    and each target image is paired with a fresh source image every time.
    The length is ``max(len(source), len(target))``; no pair index list is
    ever built. Target draws come from a generator seeded by
    ``(seed, rank, worker id, torch's per-worker seed)``, created lazily
    inside each worker, so workers never repeat each other's stream,
    restarted workers draw anew each epoch, and a run is reproducible for a
    fixed seed and number of workers.

    Args:
        source (dict | Dataset): labeled source dataset (config or object).
        target (dict | Dataset): target dataset.
        seed (int, optional): base seed of the target draws. None draws it
            from numpy's global generator (seeded by mmengine's
            ``randomness.seed``). Defaults to None.
        drop_target_labels (bool): remove ``gt_label`` from target samples so
            the model cannot see them. Defaults to True.

    Example:
        >>> train_dataloader = dict(
        ...     dataset=dict(type='UDADataset', source=src_cfg,
        ...                  target=tgt_cfg),
        ...     sampler=dict(type='InfiniteSampler', shuffle=True))
    """

    def __init__(self,
                 source: Union[dict, Dataset],
                 target: Union[dict, Dataset],
                 seed: Optional[int] = None,
                 drop_target_labels: bool = True):
        self.source = DATASETS.build(source) if isinstance(source,
                                                           dict) else source
        self.target = DATASETS.build(target) if isinstance(target,
                                                           dict) else target
        for name, ds in (('source', self.source), ('target', self.target)):
            if len(ds) == 0:
                raise ValueError(f'UDADataset: the {name} dataset is empty '
                                 f'(key `{name}`)')
        self.seed = int(np.random.randint(2**31)) if seed is None else seed
        self.drop_target_labels = drop_target_labels
        self._rng = None
        self._rng_owner = None

    @property
    def metainfo(self) -> dict:
        return getattr(self.source, 'metainfo', {})

    def full_init(self) -> None:
        for ds in (self.source, self.target):
            if isinstance(ds, BaseDataset):
                ds.full_init()

    def __len__(self) -> int:
        return max(len(self.source), len(self.target))

    def _target_rng(self) -> np.random.Generator:
        info = get_worker_info()
        # torch gives every (re)started worker a new seed derived from the
        # (mmengine-seeded) torch generator: new draws each epoch even when
        # workers are not persistent, yet reproducible
        worker_seed = info.seed if info is not None else 0
        owner = (os.getpid(), info.id if info is not None else -1,
                 worker_seed)
        if self._rng is None or self._rng_owner != owner:
            self._rng = np.random.default_rng(
                [self.seed, get_rank(), owner[1] + 1, worker_seed])
            self._rng_owner = owner
        return self._rng

    def __getitem__(self, idx: int) -> dict:
        src = self.source[idx % len(self.source)]
        tgt = self.target[int(self._target_rng().integers(len(self.target)))]
        if self.drop_target_labels:
            tgt = _strip_labels(tgt)
        return dict(source=src, target=tgt)
