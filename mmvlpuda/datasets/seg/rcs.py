"""Rare Class Sampling (RCS, DAFormer) and its per-file class statistics.

Statistics files (DAFormer's format), written into the source data root by
``tools/dataset_converters/rcs_stats.py`` (or ``gta.py``):

* ``sample_class_stats.json``: ``[{"<class id>": n_pixels, ...,
  "file": "<label path relative to data_root>"}, ...]``, classes with
  ``n_pixels > 0`` only;
* ``samples_with_class.json``: ``{"<class id>": [[file, n_pixels], ...]}``.
"""
import os
import os.path as osp
from functools import partial
from multiprocessing import Pool
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.fileio import load
from mmengine.logging import print_log
from PIL import Image

from mmvlpuda.utils.atomic import save_json_atomic

STATS_FILE = 'sample_class_stats.json'
SAMPLES_FILE = 'samples_with_class.json'
STATS_TOOL = 'python tools/dataset_converters/rcs_stats.py'

Stats = Union[Sequence[Mapping], Mapping]


# ------------------------------------------------------------- statistics
def count_class_pixels(path: str, num_classes: int = 19) -> Dict[int, int]:
    """Pixels per class id ``< num_classes`` of a train-id label PNG."""
    with Image.open(path) as image:
        label = np.asarray(image)
    if label.ndim != 2:
        raise ValueError(f'{path}: a train-id label must be single-channel, '
                         f'got shape {label.shape}')
    counts = np.bincount(
        label.ravel().astype(np.int64), minlength=num_classes)[:num_classes]
    return {c: int(n) for c, n in enumerate(counts) if n > 0}


def _stats_entry(path: str, data_root: str, num_classes: int) -> dict:
    entry = {
        str(c): n
        for c, n in count_class_pixels(path, num_classes).items()
    }
    entry['file'] = osp.relpath(path, data_root).replace(os.sep, '/')
    return entry


def compute_class_stats(label_paths: Sequence[str],
                        data_root: str,
                        num_classes: int = 19,
                        nproc: int = 1) -> List[dict]:
    """DAFormer's ``sample_class_stats``: one dict per label file.

    Args:
        label_paths (Sequence[str]): train-id label PNGs.
        data_root (str): ``file`` entries are relative to it.
        num_classes (int): ids ``>= num_classes`` (e.g. 255) are ignored.
        nproc (int): worker processes (a pool only if > 1).

    Returns:
        list[dict]: ``{"<class id>": n_pixels, ..., "file": rel_path}``.
    """
    func = partial(_stats_entry, data_root=data_root, num_classes=num_classes)
    if nproc > 1 and len(label_paths) > 1:
        with Pool(min(nproc, len(label_paths))) as pool:
            return pool.map(func, label_paths, chunksize=8)
    return [func(p) for p in label_paths]


def group_samples_by_class(sample_class_stats: Sequence[Mapping]) -> dict:
    """``samples_with_class``: ``{"<class>": [[file, n_pixels], ...]}``."""
    groups: Dict[str, list] = {}
    for entry in sample_class_stats:
        for key, n in entry.items():
            if key != 'file':
                groups.setdefault(str(key), []).append([entry['file'], n])
    return dict(sorted(groups.items(), key=lambda kv: int(kv[0])))


def list_label_files(label_dir: str, suffix: str) -> List[str]:
    """Label files ending in ``suffix`` under ``label_dir`` (recursive)."""
    if not osp.isdir(label_dir):
        raise ValueError(f'label directory {label_dir!r} does not exist '
                         f'(expected *{suffix} files)')
    paths = sorted(
        osp.join(folder, name) for folder, _, names in os.walk(label_dir)
        for name in names if name.endswith(suffix))
    if not paths:
        raise ValueError(f'no label file ending in {suffix!r} found under '
                         f'{label_dir!r}')
    return paths


def write_rcs_stats(data_root: str,
                    label_dir: str = 'labels',
                    suffix: str = '_labelTrainIds.png',
                    num_classes: int = 19,
                    nproc: int = 1,
                    out_dir: Optional[str] = None) -> Tuple[str, str]:
    """Compute and write both RCS statistics files (atomically).

    Args:
        data_root (str): dataset root; ``file`` entries are relative to it.
        label_dir (str): label folder relative to ``data_root``.
        suffix (str): train-id label suffix.
        num_classes (int): number of classes. Defaults to 19.
        nproc (int): worker processes. Defaults to 1.
        out_dir (str, optional): output folder. Defaults to ``data_root``.

    Returns:
        tuple[str, str]: paths of ``sample_class_stats.json`` and
        ``samples_with_class.json``.
    """
    paths = list_label_files(osp.join(data_root, label_dir), suffix)
    stats = compute_class_stats(paths, data_root, num_classes, nproc)
    out_dir = data_root if out_dir is None else out_dir
    stats_path = osp.join(out_dir, STATS_FILE)
    samples_path = osp.join(out_dir, SAMPLES_FILE)
    save_json_atomic(stats, stats_path)
    save_json_atomic(group_samples_by_class(stats), samples_path)
    return stats_path, samples_path


def load_class_stats(location: str, hint: str = '') -> Tuple[list, dict]:
    """Read ``(sample_class_stats, samples_with_class)``.

    Args:
        location (str): the folder holding the files, or the path of
            ``sample_class_stats.json``.
        hint (str): how to create the files (in the missing-file error).
    """
    stats_path = osp.join(location,
                          STATS_FILE) if osp.isdir(location) else location
    if not osp.isfile(stats_path):
        hint = hint or f'{STATS_TOOL} <data_root> --label-dir <labels>'
        raise FileNotFoundError(f'RCS statistics {stats_path!r} not found; '
                                f'create them with `{hint}`')
    stats = _load_json(stats_path)
    samples_path = osp.join(osp.dirname(stats_path), SAMPLES_FILE)
    samples = _load_json(samples_path) if osp.isfile(
        samples_path) else group_samples_by_class(stats)
    return stats, samples


def _load_json(path: str):
    try:
        return load(path, file_format='json')
    except ValueError as e:
        raise ValueError(f'{path}: invalid JSON ({e})') from None


# ---------------------------------------------------------- probabilities
def _class_totals(stats: Stats) -> Dict[int, int]:
    if isinstance(stats, Mapping):
        return {int(c): int(n) for c, n in stats.items()}
    totals: Dict[int, int] = {}
    for entry in stats:
        for key, n in entry.items():
            if key != 'file':
                totals[int(key)] = totals.get(int(key), 0) + int(n)
    return totals


def rcs_class_probs(stats: Stats,
                    temperature: float) -> Tuple[List[int], np.ndarray]:
    """Class sampling probabilities of Rare Class Sampling.

    DAFormer (Hoyer et al., CVPR 2022), Eq. (6):
    ``P(c) = exp((1 - f_c) / T) / sum_c' exp((1 - f_c') / T)``, with
    ``f_c`` the fraction of source pixels of class ``c``; rarer classes get
    higher probabilities, ``T -> inf`` gives a uniform distribution.

    Args:
        stats (list[dict] | dict): DAFormer's ``sample_class_stats`` (list
            of per-file ``{"<class>": n_pixels, "file": ...}``) or a mapping
            class -> total pixels.
        temperature (float): ``T`` (DAFormer: 0.01).

    Returns:
        tuple[list[int], np.ndarray]: classes sorted by ascending frequency
        and their probabilities (summing to 1).
    """
    if temperature <= 0:
        raise ValueError(f'rcs_class_probs: temperature must be > 0, got '
                         f'{temperature}')
    totals = _class_totals(stats)
    if not totals or sum(totals.values()) <= 0:
        raise ValueError('rcs_class_probs: the statistics count no pixels')
    classes = sorted(totals, key=lambda c: (totals[c], c))
    freq = np.array([totals[c] for c in classes], dtype=np.float64)
    freq /= freq.sum()
    logits = (1 - freq) / temperature
    probs = np.exp(logits - logits.max())
    return classes, probs / probs.sum()


# ---------------------------------------------------------------- sampler
class RareClassSampler:
    """Draws ``(class, source index)`` pairs as DAFormer's RCS does.

    ``c ~ rcs_class_probs(stats, class_temp)``, then an index uniformly
    among the source images with more than ``min_pixels`` pixels of ``c``.
    Statistics files are matched to dataset indices through the dataset's
    ``seg_map_path`` (path relative to ``data_root``, else basename).
    Classes without such an image are left out (probabilities renormalised).

    Args:
        dataset: the source dataset (``get_data_info(i)['seg_map_path']``).
        class_temp (float): temperature ``T``. Defaults to 0.01.
        min_pixels (int): Defaults to 3000.
        stats_file (str, optional): folder or ``sample_class_stats.json``.
            Defaults to the dataset's ``data_root``.
    """

    def __init__(self,
                 dataset,
                 class_temp: float = 0.01,
                 min_pixels: int = 3000,
                 stats_file: Optional[str] = None):
        root = getattr(dataset, 'data_root', None)
        if stats_file is None and root is None:
            raise ValueError('rare_class_sampling: the source dataset has no '
                             'data_root; set rare_class_sampling.stats_file')
        self.data_root = root or ''
        stats, samples = load_class_stats(stats_file or root,
                                          self._stats_hint(dataset))
        classes, probs = rcs_class_probs(stats, class_temp)
        self.class_indices = self._index_files(dataset, samples, classes,
                                               min_pixels, stats_file or root)
        keep = [k for k, c in enumerate(classes) if self.class_indices[c]]
        self.dropped = [c for c in classes if not self.class_indices[c]]
        self.classes = [classes[k] for k in keep]
        self.probs = probs[keep] / probs[keep].sum()
        self._log(dataset, class_temp, min_pixels)

    def _stats_hint(self, dataset) -> str:
        prefix = getattr(dataset, 'data_prefix', {}) or {}
        label_dir = prefix.get('seg_map_path') or '<labels>'
        if self.data_root and label_dir != '<labels>':
            label_dir = osp.relpath(label_dir, self.data_root)
        suffix = getattr(dataset, 'seg_map_suffix', '<suffix>')
        return (f'{STATS_TOOL} {self.data_root or "<data_root>"} '
                f'--label-dir {label_dir} --suffix {suffix}')

    def _seg_map_index(self, dataset) -> Tuple[dict, dict]:
        by_rel, by_name = {}, {}
        for i in range(len(dataset)):
            path = dataset.get_data_info(i).get('seg_map_path')
            if path is None:
                raise ValueError('rare_class_sampling needs a labeled source '
                                 'dataset (data_prefix.seg_map_path)')
            by_rel[self._rel(path)] = i
            name = osp.basename(path)
            by_name[name] = None if name in by_name else i  # None: ambiguous
        return by_rel, by_name

    def _rel(self, path: str) -> str:
        if not osp.isabs(path):
            path = osp.join(self.data_root, path)
        return osp.normpath(
            osp.relpath(osp.abspath(path), osp.abspath(self.data_root)))

    def _index_files(self, dataset, samples: dict, classes: List[int],
                     min_pixels: int, location: str) -> Dict[int, List[int]]:
        by_rel, by_name = self._seg_map_index(dataset)

        def lookup(file: str) -> Optional[int]:
            idx = by_rel.get(self._rel(file))
            return by_name.get(osp.basename(file)) if idx is None else idx

        indices, matched = {}, 0
        for c in classes:
            found = [(lookup(f), n) for f, n in samples.get(str(c), [])]
            matched += sum(i is not None for i, _ in found)
            indices[c] = [
                i for i, n in found if i is not None and n > min_pixels
            ]
        if not matched:
            raise ValueError(f'rare_class_sampling: no file of the RCS '
                             f'statistics in {location!r} matches a label of '
                             'the source dataset; recreate them with '
                             f'`{self._stats_hint(dataset)}`')
        if not any(indices.values()):
            raise ValueError(f'rare_class_sampling: no source image has more '
                             f'than min_pixels={min_pixels} pixels of any '
                             'class; lower rare_class_sampling.min_pixels')
        return indices

    def _log(self, dataset, class_temp: float, min_pixels: int) -> None:
        names = (getattr(dataset, 'metainfo', None) or {}).get('classes')

        def name(c):
            return names[c] if names and c < len(names) else str(c)

        probs = ', '.join(f'{name(c)}={p:.4f}'
                          for c, p in zip(self.classes, self.probs))
        print_log(
            f'Rare class sampling (class_temp={class_temp}, '
            f'min_pixels={min_pixels}): class probabilities {probs}',
            logger='current')
        if self.dropped:
            print_log(
                'Rare class sampling: no source image has more than '
                f'{min_pixels} pixels of class(es) '
                f'{[name(c) for c in self.dropped]}; they are never '
                'sampled',
                logger='current',
                level=30)

    def draw(self, rng: np.random.Generator) -> Tuple[int, int]:
        """Return ``(class, source index)`` drawn with ``rng``."""
        c = self.classes[int(rng.choice(len(self.classes), p=self.probs))]
        options = self.class_indices[c]
        return c, options[int(rng.integers(len(options)))]
