"""One domain of a UDA benchmark in the layout its data comes in."""
import os
import os.path as osp
from typing import Optional

from mmvlpuda.registry import DATASETS
from .domain_folder import DomainFolderDataset
from .image_list import ImageListDataset

LAYOUTS = ('folders', 'list')


def _has_subfolders(folder: str) -> bool:
    return osp.isdir(folder) and any(
        osp.isdir(osp.join(folder, e)) for e in os.listdir(folder))


def build_domain_dataset(domain: str,
                         layout: str = 'folders',
                         list_file: Optional[str] = None,
                         list_options: Optional[dict] = None,
                         folder_options: Optional[dict] = None,
                         **kwargs):
    """One domain as :class:`DomainFolderDataset` or :class:`ImageListDataset`
    (registered as ``DomainDataset``), so a config switches the layout with
    one top-level key instead of rewriting its datasets.

    Args:
        domain (str): the domain (``'c'``, ``'clipart'``, ...).
        layout (str): ``'folders'``: ``<data_root>/<domain>/<class>/*``
            (class-named folders, as the official code reads them);
            ``'list'``: the ``"<path> <label>"`` list file ``list_file``.
            Configs set it from the top-level ``data_layout``.
        list_file (str, optional): list file for ``layout='list'``, relative
            to ``data_root``, with ``{domain}`` filled in, e.g.
            ``'list/{domain}List.txt'`` (ImageCLEF-DA) or
            ``'{domain}_test.txt'`` (DomainNet).
        list_options (dict, optional): extra :class:`ImageListDataset`
            arguments (``strip_prefix``, ``find_by_name``, ...), used only by
            ``layout='list'``.
        folder_options (dict, optional): extra :class:`DomainFolderDataset`
            arguments (``subdir``, ``extensions``), used only by
            ``layout='folders'``.
        **kwargs: common arguments (``data_root``, ``classes``, ``pipeline``,
            ``test_mode``, ``holdout``, ...).

    Example:
        >>> dataset = dict(type='DomainDataset', layout='list', domain='c',
        ...                list_file='list/{domain}List.txt',
        ...                data_root='data/image_clef', classes=CLEF_CLASSES)
    """
    if layout not in LAYOUTS:
        raise ValueError(f'unknown data layout {layout!r}: expected one of '
                         f'{list(LAYOUTS)} (key `data_layout`)')
    data_root = kwargs.get('data_root', '')
    if layout == 'folders':
        try:
            return DomainFolderDataset(
                domain=domain, **(folder_options or {}), **kwargs)
        except FileNotFoundError as e:
            if 'class folder missing' not in str(e) or list_file is None:
                raise
            raise FileNotFoundError(
                f"{e}; data_layout='folders' reads class-named folders, to "
                f"read the list files ({list_file}) set data_layout='list' "
                '(e.g. --cfg-options data_layout=list)') from e
    if not list_file:
        raise ValueError("data_layout='list' needs a `list_file` (e.g. "
                         "'list/{domain}List.txt')")
    ann_file = list_file.format(domain=domain)
    path = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
    if not osp.isfile(path) and _has_subfolders(osp.join(data_root, domain)):
        raise FileNotFoundError(
            f"list file not found: {path} (data_layout='list'); the domain "
            f'folder {osp.join(data_root, domain)} has sub-folders: for '
            "class-named folders set data_layout='folders' (e.g. "
            '--cfg-options data_layout=folders)')
    return ImageListDataset(
        ann_file=ann_file, **(list_options or {}), **kwargs)


DATASETS.register_module(name='DomainDataset', module=build_domain_dataset)
