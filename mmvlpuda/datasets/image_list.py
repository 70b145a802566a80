import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmpretrain.datasets import BaseDataset

from mmvlpuda.registry import DATASETS
from .domain_folder import ImageLoadErrorMixin, check_classes
from .holdout import HoldoutMixin


@DATASETS.register_module()
class ImageListDataset(HoldoutMixin, ImageLoadErrorMixin, BaseDataset):
    """Images and labels from a list file: one ``<path> <label>`` per line.

    This is the layout of DomainNet's official split files
    (``clipart_train.txt``: ``clipart/aircraft_carrier/clipart_001_000018.jpg
    0``), of the ImageCLEF-DA list files (``list/cList.txt``:
    ``c/113_0114.jpg 2``) and of VisDA-2017's ``image_list.txt``.

    ``<path>`` is relative to ``data_root/data_prefix`` (a path may contain
    spaces: the label is the last field); ``<label>`` is an int index into
    ``classes``, which must therefore be in the label order of the list
    files. Blank lines and lines starting with ``#`` are skipped. Every
    listed image must exist (checked at load time; the first missing one is
    named).

    Args:
        ann_file (str): the list file, relative to ``data_root`` unless
            absolute.
        classes (Sequence[str]): class names in label order.
        data_root (str): dataset root. Defaults to ''.
        data_prefix (str): folder (relative to ``data_root``) the listed
            paths are relative to. Defaults to '' (``data_root`` itself).
        strip_prefix (str): a leading path prefix to remove from every listed
            path, for lists written for another directory layout (e.g.
            ``'data/imageCLEF/'``). A line without it is an error.
            Defaults to ''.
        pipeline (Sequence[dict]): transforms. Defaults to ().
        test_mode (bool): Defaults to False.
        holdout (dict, optional): held-out split
            ``dict(ratio, seed, part)``, see :mod:`mmvlpuda.datasets.holdout`.
        check_files (bool): check that every listed image exists when
            loading. Defaults to True.
        find_by_name (bool): a listed image missing at its listed path is
            looked up by file name under the listed path's top folder (e.g.
            ``c/``), at any depth, and used when exactly one file has that
            name. So one list serves both a flat image folder and one with
            class sub-folders (ImageCLEF-DA: ``list/cList.txt`` lines name a
            Caltech class folder, ``c/<caltech class>/113_0114.jpg``, the
            released images and ``c_list.txt`` are flat ``c/113_0114.jpg``).
            No match, or several, is an error naming the list line.
            Implies ``check_files``. Defaults to False.
        **kwargs: other arguments of mmpretrain's ``BaseDataset``.

    Example:
        >>> dataset = dict(type='ImageListDataset', data_root='data/domainnet',
        ...                ann_file='clipart_train.txt',
        ...                classes=DOMAINNET_CLASSES, pipeline=train_pipeline)
    """

    def __init__(self,
                 ann_file: str,
                 classes: Sequence[str],
                 data_root: str = '',
                 data_prefix: str = '',
                 strip_prefix: str = '',
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 holdout: Optional[dict] = None,
                 check_files: bool = True,
                 find_by_name: bool = False,
                 **kwargs):
        if not ann_file:
            raise ValueError('ImageListDataset needs `ann_file` (the list '
                             'file of "<path> <label>" lines)')
        classes = check_classes(classes, type(self).__name__)
        self.strip_prefix = strip_prefix
        self.check_files = check_files or find_by_name
        self.find_by_name = find_by_name
        self._init_holdout(holdout)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            classes=classes,
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs)

    def _parse_line(self, line: str, where: str):
        fields = line.rsplit(None, 1)
        if len(fields) != 2:
            raise ValueError(f'{where}: expected "<path> <label>", got '
                             f'{line!r}')
        path, label = fields
        try:
            label = int(label)
        except ValueError:
            raise ValueError(f'{where}: label {label!r} is not an int') \
                from None
        if not 0 <= label < len(self.CLASSES):
            raise ValueError(f'{where}: label {label} is outside 0..'
                             f'{len(self.CLASSES) - 1} (`classes` has '
                             f'{len(self.CLASSES)} names)')
        if self.strip_prefix:
            if not path.startswith(self.strip_prefix):
                raise ValueError(f'{where}: path {path!r} does not start '
                                 f'with `strip_prefix` {self.strip_prefix!r}')
            path = path[len(self.strip_prefix):]
        return path, label

    def load_data_list(self) -> List[dict]:
        ann_file = self.ann_file
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'list file not found: {ann_file} (key '
                                    '`ann_file`)')
        prefix = self.data_prefix['img_path']
        data_list, linenos, listed = [], [], []
        with open(ann_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                path, label = self._parse_line(line, f'{ann_file}:{lineno}')
                data_list.append(
                    dict(img_path=osp.join(prefix, path), gt_label=label))
                linenos.append(lineno)
                listed.append(path)
        if not data_list:
            raise ValueError(f'list file {ann_file} has no "<path> <label>" '
                             'lines')
        if self.check_files:
            self._check_files(data_list, linenos, listed, prefix)
        return data_list

    def _check_files(self, data_list: List[dict], linenos: List[int],
                     listed: List[str], prefix: str) -> None:
        """Every listed image must exist (``find_by_name``: at its listed
        path or, uniquely, by name under its top folder)."""
        index: Dict[str, Dict[str, List[str]]] = {}
        missing = []
        for info, lineno, path in zip(data_list, linenos, listed):
            if osp.isfile(info['img_path']):
                continue
            if self.find_by_name:
                found = self._lookup(path, prefix, index,
                                     f'{self.ann_file}:{lineno}')
                if found is not None:
                    info['img_path'] = found
                    continue
            missing.append((info['img_path'], lineno, path))
        if missing:
            path, lineno, rel = missing[0]
            hint = ''
            if self.find_by_name:
                root = self._search_root(rel, prefix)
                hint = (f"; no file named '{osp.basename(rel)}' under "
                        f'{root} either')
            raise FileNotFoundError(
                f'image not found: {path} (listed at {self.ann_file}:'
                f'{lineno}{hint}; {len(missing)} of {len(data_list)} listed '
                'images missing; check `data_root`/`data_prefix`)')

    @staticmethod
    def _search_root(path: str, prefix: str) -> str:
        parts = [p for p in path.replace('\\', '/').split('/') if p]
        return osp.join(prefix, parts[0]) if len(parts) > 1 else prefix

    def _lookup(self, path: str, prefix: str, index: dict,
                where: str) -> Optional[str]:
        root = self._search_root(path, prefix)
        if root not in index:
            names: Dict[str, List[str]] = {}
            for dirpath, _, files in os.walk(root, followlinks=True):
                for name in files:
                    names.setdefault(name, []).append(osp.join(dirpath, name))
            index[root] = names
        found = index[root].get(osp.basename(path), [])
        if len(found) > 1:
            shown = ', '.join(sorted(found)[:3])
            raise ValueError(
                f'{where}: {path} is not at its listed place and '
                f"{len(found)} files named '{osp.basename(path)}' exist under "
                f'{root} ({shown}); fix the list or the image folder')
        return found[0] if found else None
