import os
import os.path as osp
from typing import List, Optional, Sequence

from mmpretrain.datasets import BaseDataset

from mmvlpuda.registry import DATASETS
from .holdout import HoldoutMixin

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')


class ImageLoadError(RuntimeError):
    """An image file could not be read or transformed."""


def check_classes(classes: Sequence[str], owner: str) -> List[str]:
    """``classes`` as a list; one-line errors when empty or duplicated."""
    if not classes:
        raise ValueError(f'{owner} needs `classes` (the class names in label '
                         'order)')
    if isinstance(classes, str):
        raise TypeError(f'`classes` must be a list of class names, got the '
                        f'string {classes!r}')
    classes = list(classes)
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise ValueError(f'duplicate class names in `classes`: {dup}')
    return classes


class ImageLoadErrorMixin:
    """Turns any failure of the pipeline on one sample into a one-line
    :class:`ImageLoadError` naming the image (``img_path``)."""

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as e:
            path = self.get_data_info(idx).get('img_path', f'index {idx}')
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ImageLoadError(f'cannot load image {path}: {msg}') from e


@DATASETS.register_module()
class DomainFolderDataset(HoldoutMixin, ImageLoadErrorMixin, BaseDataset):
    """One domain of a ``root/<domain>/<class>/*.jpg`` image tree.

    Class names and their order come from ``classes`` (never from the folder
    listing, so prompts and labels cannot be silently reordered); every class
    needs a non-empty folder named exactly like it, and a folder without a
    class is an error too.

    Args:
        data_root (str): dataset root (e.g. ``data/office_home``).
        domain (str): domain sub-folder (e.g. ``'Art'``). ``''`` means the
            class folders are directly under ``data_root``.
        classes (Sequence[str]): class folder names in label order.
        pipeline (Sequence[dict]): transforms. Defaults to ().
        test_mode (bool): Defaults to False.
        extensions (Sequence[str]): accepted image suffixes
            (case-insensitive).
        subdir (str, optional): folder level between the domain folder and
            the class folders, e.g. ``'images'`` for the original Office-31
            archive (``amazon/images/<class>``). None (default) detects it:
            a domain folder whose only entry is an ``images/`` folder (and
            no class is called ``images``) uses it. ``''`` never does.
        holdout (dict, optional): held-out split
            ``dict(ratio, seed, part)``, see :mod:`mmvlpuda.datasets.holdout`.
            None (default) keeps the whole domain (transductive).
        **kwargs: other arguments of mmpretrain's ``BaseDataset``.

    Example:
        >>> dataset = dict(
        ...     type='DomainFolderDataset', data_root='data/office_home',
        ...     domain='Art', classes=OFFICE_HOME_CLASSES,
        ...     pipeline=train_pipeline)
    """

    def __init__(self,
                 data_root: str,
                 domain: str,
                 classes: Sequence[str],
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 subdir: Optional[str] = None,
                 holdout: Optional[dict] = None,
                 **kwargs):
        classes = check_classes(classes, type(self).__name__)
        self.domain = domain
        self.subdir = subdir
        self.extensions = tuple(e.lower() for e in extensions)
        self._init_holdout(holdout)
        super().__init__(
            ann_file='',
            data_root=data_root,
            data_prefix=domain,
            classes=classes,
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs)

    @property
    def domain_dir(self) -> str:
        """Folder holding the class folders (domain folder + ``subdir``)."""
        folder = self.data_prefix['img_path']
        if self.subdir:
            return osp.join(folder, self.subdir)
        if self.subdir is None and self._has_only_images_dir(folder):
            return osp.join(folder, 'images')
        return folder

    def _has_only_images_dir(self, folder: str) -> bool:
        if 'images' in self.CLASSES or not osp.isdir(folder):
            return False
        entries = [e for e in os.listdir(folder) if not e.startswith('.')]
        return entries == ['images'] and osp.isdir(osp.join(folder, 'images'))

    def _check_folders(self) -> None:
        root, folder = self.data_root, self.data_prefix['img_path']
        if not osp.isdir(root):
            raise FileNotFoundError(f'data root not found: {root} '
                                    '(key `data_root`)')
        if not osp.isdir(folder):
            raise FileNotFoundError(f'domain folder not found: {folder} '
                                    f"(domain '{self.domain}', key `domain`)")
        if self.subdir and not osp.isdir(self.domain_dir):
            raise FileNotFoundError(f'sub-folder not found: {self.domain_dir}'
                                    f" (subdir '{self.subdir}', key `subdir`)")
        folder = self.domain_dir
        folders = {
            d
            for d in os.listdir(folder) if osp.isdir(osp.join(folder, d))
        }
        missing = [c for c in self.CLASSES if c not in folders]
        if missing:
            raise FileNotFoundError(
                f'class folder missing: {osp.join(folder, missing[0])} '
                f"(class '{missing[0]}' of `classes`; {len(missing)} missing)")
        extra = sorted(folders - set(self.CLASSES))
        if extra:
            raise ValueError(
                f'folder {osp.join(folder, extra[0])} is not in `classes` '
                f'({len(extra)} unlisted folders)')

    def _list_images(self, class_dir: str) -> List[str]:
        files = []
        for dirpath, _, names in sorted(os.walk(class_dir, followlinks=True)):
            files.extend(
                osp.join(dirpath, n) for n in sorted(names)
                if n.lower().endswith(self.extensions))
        return files

    def load_data_list(self) -> List[dict]:
        self._check_folders()
        domain_dir = self.domain_dir
        data_list = []
        for label, name in enumerate(self.CLASSES):
            class_dir = osp.join(domain_dir, name)
            files = self._list_images(class_dir)
            if not files:
                raise ValueError(f'empty class folder: {class_dir} (no '
                                 f'{"/".join(self.extensions)} images)')
            data_list.extend(dict(img_path=f, gt_label=label) for f in files)
        return data_list
