import os
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import Compose
from mmengine.dist import get_rank
from torch.utils.data import Dataset, get_worker_info

from mmvlpuda.registry import DATASETS, TRANSFORMS
from .domain_folder import ImageLoadError


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

    Item ``(i, j)`` is ``dict(source=source[i], target=target[j])``: with
    :class:`UDAInfiniteSampler` (the configs' sampler) both domains are
    shuffled without replacement, each on its own, as the official loaders.
    An integer item ``i`` (any other sampler) is
    ``dict(source=source[i % len(source)], target=target[j])`` with ``j``
    drawn uniformly at random (with replacement), so each target image is
    paired with a fresh source image every time.
    The length is ``max(len(source), len(target))``; no pair index list is
    ever built. Random target draws come from a generator seeded by
    ``(seed, rank, worker id, torch's per-worker seed)``, created lazily
    inside each worker, so workers never repeat each other's stream,
    restarted workers draw anew each epoch, and a run is reproducible for a
    fixed seed and number of workers.

    With ``target_strong`` (FixMatch, paper App. B) the item also has
    ``target_strong``: a second view of the SAME target image (same index
    ``j``), so the weak and strong views of a batch pair up row by row.

    Args:
        source (dict | Dataset): labeled source dataset (config or object).
        target (dict | Dataset): target dataset.
        seed (int, optional): base seed of the target draws. None draws it
            from numpy's global generator (seeded by mmengine's
            ``randomness.seed``). Defaults to None.
        drop_target_labels (bool): remove ``gt_label`` from target samples so
            the model cannot see them. Defaults to True.
        target_strong (list | Callable | dict | Dataset, optional): the
            strong target view. A pipeline (list of transform configs, or a
            callable) is applied to ``target.get_data_info(j)``; a dataset
            (config or object) must list the same images as ``target`` and
            is indexed with the same ``j``. Defaults to None (no strong
            view).

    Example:
        >>> train_dataloader = dict(
        ...     dataset=dict(type='UDADataset', source=src_cfg,
        ...                  target=tgt_cfg),
        ...     sampler=dict(type='UDAInfiniteSampler', shuffle=True))
    """

    def __init__(self,
                 source: Union[dict, Dataset],
                 target: Union[dict, Dataset],
                 seed: Optional[int] = None,
                 drop_target_labels: bool = True,
                 target_strong: Union[Sequence[dict], Callable, dict, Dataset,
                                      None] = None):
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
        self.target_strong = None  # dataset giving the strong view
        self.strong_pipeline = None  # or pipeline applied to target infos
        if target_strong is not None:
            self._init_target_strong(target_strong)

    def _init_target_strong(self, target_strong) -> None:
        if isinstance(target_strong, dict) or isinstance(
                target_strong, Dataset):
            ds = DATASETS.build(target_strong) if isinstance(
                target_strong, dict) else target_strong
            if len(ds) != len(self.target):
                raise ValueError(
                    f'UDADataset: target_strong has {len(ds)} samples but '
                    f'target has {len(self.target)}; both views must list '
                    'the same images (key `target_strong`)')
            self.target_strong = ds
            return
        if not hasattr(self.target, 'get_data_info'):
            raise ValueError('UDADataset: a target_strong pipeline needs a '
                             'target dataset with get_data_info() (an '
                             'mmengine/mmpretrain dataset); pass a dataset '
                             'as `target_strong` instead')
        if isinstance(target_strong, (list, tuple)):
            target_strong = Compose([
                TRANSFORMS.build(t) if isinstance(t, dict) else t
                for t in target_strong
            ])
        if not callable(target_strong):
            raise TypeError('UDADataset: `target_strong` must be a pipeline '
                            '(list of transforms), a callable or a dataset, '
                            f'got {type(target_strong).__name__}')
        self.strong_pipeline = target_strong

    @property
    def metainfo(self) -> dict:
        return getattr(self.source, 'metainfo', {})

    def full_init(self) -> None:
        for ds in (self.source, self.target, self.target_strong):
            if ds is not None and hasattr(ds, 'full_init'):
                ds.full_init()

    def __len__(self) -> int:
        return max(len(self.source), len(self.target))

    def _target_rng(self) -> np.random.Generator:
        info = get_worker_info()
        # torch gives every (re)started worker a new seed derived from the
        # (mmengine-seeded) torch generator: new draws each epoch even when
        # workers are not persistent, yet reproducible
        worker_seed = info.seed if info is not None else 0
        owner = (os.getpid(), info.id if info is not None else -1, worker_seed)
        if self._rng is None or self._rng_owner != owner:
            self._rng = np.random.default_rng(
                [self.seed, get_rank(), owner[1] + 1, worker_seed])
            self._rng_owner = owner
        return self._rng

    def _strong_view(self, j: int):
        if self.target_strong is not None:
            return self.target_strong[j]
        info = self.target.get_data_info(j)
        try:
            return self.strong_pipeline(info)
        except Exception as e:
            path = info.get('img_path', f'target index {j}') \
                if isinstance(info, dict) else f'target index {j}'
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ImageLoadError(
                f'cannot load the strong view of image {path}: {msg}') from e

    def _pair(self, idx: Union[int, Tuple[int, int]]) -> Tuple[int, int]:
        """Source and target index of item ``idx``: an explicit pair (from
        :class:`UDAInfiniteSampler`) or a source index and a random draw."""
        if isinstance(idx, (tuple, list)):
            i, j = idx
            return i % len(self.source), j % len(self.target)
        return (idx % len(self.source),
                int(self._target_rng().integers(len(self.target))))

    def __getitem__(self, idx: Union[int, Tuple[int, int]]) -> dict:
        i, j = self._pair(idx)
        src = self.source[i]
        tgt = self.target[j]
        if self.drop_target_labels:
            tgt = _strip_labels(tgt)
        item = dict(source=src, target=tgt)
        if self.target_strong is not None or self.strong_pipeline is not None:
            strong = self._strong_view(j)
            item['target_strong'] = _strip_labels(
                strong) if self.drop_target_labels else strong
        return item
