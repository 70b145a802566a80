import os
import os.path as osp
from typing import List, Optional, Sequence

from mmpretrain.datasets import BaseDataset

from mmvlpuda.registry import DATASETS

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')


class ImageLoadError(RuntimeError):
    """An image file could not be read or transformed."""


@DATASETS.register_module()
class DomainFolderDataset(BaseDataset):
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
        **kwargs: other arguments of mmpretrain's ``BaseDataset``.

    Example:
        >>> dataset = dict(type='DomainFolderDataset',
        ...                data_root='data/office_home', domain='Art',
        ...                classes=OFFICE_HOME_CLASSES, pipeline=train_pipeline)
    """

    def __init__(self,
                 data_root: str,
                 domain: str,
                 classes: Sequence[str],
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 **kwargs):
        if not classes:
            raise ValueError('DomainFolderDataset needs `classes` (the class '
                             'names in label order)')
        if len(set(classes)) != len(classes):
            dup = sorted({c for c in classes if list(classes).count(c) > 1})
            raise ValueError(f'duplicate class names in `classes`: {dup}')
        self.domain = domain
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(
            ann_file='',
            data_root=data_root,
            data_prefix=domain,
            classes=list(classes),
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs)

    @property
    def domain_dir(self) -> str:
        return self.data_prefix['img_path']

    def _check_folders(self) -> None:
        root, folder = self.data_root, self.domain_dir
        if not osp.isdir(root):
            raise FileNotFoundError(f'data root not found: {root} '
                                    '(key `data_root`)')
        if not osp.isdir(folder):
            raise FileNotFoundError(f'domain folder not found: {folder} '
                                    f"(domain '{self.domain}', key `domain`)")
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
        data_list = []
        for label, name in enumerate(self.CLASSES):
            class_dir = osp.join(self.domain_dir, name)
            files = self._list_images(class_dir)
            if not files:
                raise ValueError(f'empty class folder: {class_dir} (no '
                                 f'{"/".join(self.extensions)} images)')
            data_list.extend(
                dict(img_path=f, gt_label=label) for f in files)
        return data_list

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as e:
            path = self.get_data_info(idx).get('img_path', f'index {idx}')
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ImageLoadError(f'cannot load image {path}: {msg}') from e
