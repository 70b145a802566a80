"""One-line errors for broken segmentation dataset layouts."""
import os.path as osp
from typing import List


class SegLayoutCheckMixin:
    """Checks what mmseg's ``BaseSegDataset.load_data_list`` found.

    mmseg silently yields an empty dataset for a wrong ``img_path`` and only
    fails on a missing label deep inside a dataloader worker. Mixed in
    before an mmseg dataset class, this raises at build time instead:

    * the image directory does not exist -> ``ValueError`` naming it and the
      expected image suffix;
    * no image with the suffix is found -> ``ValueError`` (same content);
    * labels are expected (``data_prefix`` has ``seg_map_path``) and an
      image has no label file -> ``FileNotFoundError`` naming the label.

    Only local files are checked (``backend_args`` is None).

    Example:
        >>> @DATASETS.register_module()
        ... class MyDataset(SegLayoutCheckMixin, CityscapesDataset):
        ...     pass
    """

    #: appended to the missing-label message (e.g. how to create labels)
    label_hint: str = ''

    def load_data_list(self) -> List[dict]:
        img_dir = self.data_prefix.get('img_path', None) or ''
        local = self.backend_args is None
        name = type(self).__name__
        expected = f'expected *{self.img_suffix} images'
        if local and not self.ann_file and not osp.isdir(img_dir):
            raise ValueError(f'{name}: image directory {img_dir!r} does '
                             f'not exist ({expected})')
        data_list = super().load_data_list()
        if not data_list:
            raise ValueError(f'{name}: no image found in {img_dir!r} '
                             f'({expected})')
        if local and self.data_prefix.get('seg_map_path') is not None:
            self._check_labels(data_list)
        return data_list

    def _check_labels(self, data_list: List[dict]) -> None:
        for info in data_list:
            seg = info.get('seg_map_path')
            if seg is not None and not osp.isfile(seg):
                hint = f'; {self.label_hint}' if self.label_hint else ''
                raise FileNotFoundError(
                    f'{type(self).__name__}: label file {seg!r} not found '
                    f'for image {info["img_path"]!r} (labels are expected '
                    f'because data_prefix has seg_map_path){hint}')
