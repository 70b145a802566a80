"""Held-out target split: the one place where a dataset is split into a
part used for adaptation and a part used only for evaluation.

The paper (and the official code) evaluate transductively, on the very
target images used for adaptation. Users often want a held-out split
instead; every mmvlpuda classification dataset therefore takes::

    holdout=dict(ratio=0.2, seed=0, part='train' | 'test')

``ratio`` of every class (stratified) goes to ``'test'``, the rest to
``'train'``, decided by a seeded permutation per class, so the two parts of
the same data are disjoint, cover the data, and never change between runs
or processes. ``holdout=None`` or ``ratio=0`` keeps the whole dataset
(transductive protocol).
"""
import numbers
from typing import List, Optional, Sequence

import numpy as np

HOLDOUT_PARTS = ('train', 'test')
_HOLDOUT_KEYS = ('ratio', 'seed', 'part')


def parse_holdout(holdout: Optional[dict]) -> Optional[dict]:
    """Check a ``holdout`` argument; returns None when it keeps everything.

    Raises one-line errors naming the offending ``holdout.<key>``.
    """
    if holdout is None:
        return None
    if not isinstance(holdout, dict):
        raise TypeError('`holdout` must be None or dict(ratio=..., seed=..., '
                        f"part='train'|'test'), got {holdout!r}")
    unknown = sorted(set(holdout) - set(_HOLDOUT_KEYS))
    if unknown:
        raise ValueError(f'unknown key `holdout.{unknown[0]}` (allowed: '
                         f'{", ".join(_HOLDOUT_KEYS)})')
    ratio = holdout.get('ratio', 0.)
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) \
            or not 0. <= ratio < 1.:
        raise ValueError('`holdout.ratio` must be a number in [0, 1) (0 = '
                         f'no split), got {ratio!r}')
    if ratio == 0:
        return None
    part = holdout.get('part')
    if part not in HOLDOUT_PARTS:
        raise ValueError("`holdout.part` must be 'train' or 'test', got "
                         f'{part!r}')
    seed = holdout.get('seed', 0)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
            or seed < 0:
        raise ValueError('`holdout.seed` must be a non-negative int, got '
                         f'{seed!r}')
    return dict(ratio=float(ratio), seed=int(seed), part=part)


def holdout_indices(labels: Sequence[int], ratio: float, seed: int,
                    part: str) -> List[int]:
    """Indices (increasing) of the ``part`` of a stratified split.

    For every class with ``n`` samples, ``round(ratio * n)`` samples go to
    ``'test'``, but at least 1 and at most ``n - 1`` when ``n >= 2`` (every
    class is both adapted on and evaluated); a single-sample class stays in
    ``'train'``. Which samples is decided by a permutation seeded with
    ``(seed, class)``: it depends only on the samples of that class, in
    dataset order.
    """
    if part not in HOLDOUT_PARTS:
        raise ValueError("`holdout.part` must be 'train' or 'test', got "
                         f'{part!r}')
    labels = np.asarray(labels, dtype=np.int64)
    keep = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = len(members)
        n_test = int(round(ratio * n))
        if n >= 2:
            n_test = min(max(n_test, 1), n - 1)
        else:
            n_test = 0
        order = np.random.default_rng([seed, int(label)]).permutation(n)
        test = np.zeros(n, dtype=bool)
        test[order[:n_test]] = True
        keep[members] = test if part == 'test' else ~test
    return np.flatnonzero(keep).tolist()


class HoldoutMixin:
    """Adds the ``holdout`` argument to an mmengine ``BaseDataset``.

    Call ``self._init_holdout(holdout)`` before ``BaseDataset.__init__``;
    the split is applied in ``filter_data`` (after ``load_data_list``, so
    the per-class permutation sees the full listing; before ``indices``).
    Data infos need an int ``gt_label``.
    """

    holdout: Optional[dict] = None

    def _init_holdout(self, holdout: Optional[dict]) -> None:
        self.holdout = parse_holdout(holdout)

    def filter_data(self) -> List[dict]:
        data_list = super().filter_data()
        if self.holdout is None:
            return data_list
        keep = holdout_indices([int(d['gt_label']) for d in data_list],
                               **self.holdout)
        return [data_list[i] for i in keep]
