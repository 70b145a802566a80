"""ACDC (Adverse Conditions Dataset with Correspondences): fog, night,
rain and snow driving scenes with Cityscapes' 19 classes."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmseg.datasets import CityscapesDataset

from mmvlpuda.registry import DATASETS
from .layout import SegLayoutCheckMixin

ACDC_CONDITIONS = ('fog', 'night', 'rain', 'snow')


@DATASETS.register_module()
class ACDCDataset(SegLayoutCheckMixin, CityscapesDataset):
    """ACDC in either of its two layouts.

    * download layout (select ``conditions``)::

        rgb_anon/<condition>/<split>/<seq>/<seq>_frame_<n>_rgb_anon.png
        gt/<condition>/<split>/<seq>/<seq>_frame_<n>_gt_labelTrainIds.png

    * DAFormer's flattened layout (all conditions together)::

        rgb_anon/<split>/<seq>_frame_<n>_rgb_anon.png
        gt/<split>/<seq>_frame_<n>_gt_labelTrainIds.png

    With ``data_prefix`` the class behaves exactly like mmseg's
    ``CityscapesDataset`` (``split``/``conditions`` must then be None).
    Otherwise the layout is detected under ``data_root``: the flattened
    ``rgb_anon/<split>`` is used when it exists and ``conditions`` is None,
    else ``rgb_anon/<condition>/<split>`` of every selected condition.

    Args:
        split (str, optional): 'train' or 'val' ('test' has no labels).
            Defaults to 'train' when ``data_prefix`` is None.
        conditions (Sequence[str], optional): subset of
            ('fog', 'night', 'rain', 'snow'). None = all four.
        with_labels (bool): list the gt files too (False: unlabeled target,
            no ``seg_map_path``). Ignored with ``data_prefix``.
            Defaults to True.
        data_prefix (dict, optional): plain mmseg prefixes.
        img_suffix (str): Defaults to '_rgb_anon.png'.
        seg_map_suffix (str): Defaults to '_gt_labelTrainIds.png'.
        **kwargs: other arguments of mmseg's ``BaseSegDataset``.

    Example:
        >>> val = dict(type='mmvlpuda.ACDCDataset', data_root='data/acdc',
        ...            split='val', conditions=('night', ),
        ...            pipeline=test_pipeline)
        >>> target = dict(type='mmvlpuda.ACDCDataset', data_root='data/acdc',
        ...               split='train', with_labels=False,
        ...               pipeline=target_pipeline)
    """

    def __init__(self,
                 split: Optional[str] = None,
                 conditions: Optional[Sequence[str]] = None,
                 with_labels: bool = True,
                 data_prefix: Optional[dict] = None,
                 img_suffix: str = '_rgb_anon.png',
                 seg_map_suffix: str = '_gt_labelTrainIds.png',
                 **kwargs) -> None:
        self.split = split
        self.conditions = None if conditions is None else tuple(conditions)
        self._sub_dirs: Optional[List[str]] = None
        if data_prefix is not None:
            if split is not None or conditions is not None:
                raise ValueError('ACDCDataset: give either `data_prefix` or '
                                 '`split`/`conditions`, not both')
        else:
            self.split = split or 'train'
            data_prefix, self._sub_dirs = self._resolve_layout(
                kwargs.get('data_root') or '', with_labels)
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)

    def _resolve_layout(self, root: str,
                        with_labels: bool) -> Tuple[dict, Optional[list]]:
        """Return ``(data_prefix, sub_dirs)``; sub_dirs None = flattened."""
        split = self.split
        if self.conditions is None and osp.isdir(
                osp.join(root, 'rgb_anon', split)):
            prefix = dict(img_path=f'rgb_anon/{split}')
            sub_dirs = None
        else:
            self._check_conditions(root)
            prefix = dict(img_path='rgb_anon')
            sub_dirs = [
                f'{c}/{split}' for c in self.conditions or ACDC_CONDITIONS
            ]
        if with_labels:
            prefix['seg_map_path'] = prefix['img_path'].replace(
                'rgb_anon', 'gt', 1)
        return prefix, sub_dirs

    def _check_conditions(self, root: str) -> None:
        unknown = set(self.conditions or ()) - set(ACDC_CONDITIONS)
        if unknown:
            raise ValueError(f'ACDCDataset: unknown condition(s) '
                             f'{sorted(unknown)} in `conditions`; choose '
                             f'from {ACDC_CONDITIONS}')
        flat = osp.join(root, 'rgb_anon', self.split)
        for c in self.conditions or ():
            cond_dir = osp.join(root, 'rgb_anon', c, self.split)
            if not osp.isdir(cond_dir) and osp.isdir(flat):
                raise ValueError(
                    f'ACDCDataset: {cond_dir!r} does not exist; the '
                    f'flattened layout {flat!r} has no condition folders, '
                    'use conditions=None')
        if self.conditions is None and not any(
                osp.isdir(osp.join(root, 'rgb_anon', c, self.split))
                for c in ACDC_CONDITIONS):
            raise ValueError(
                f'ACDCDataset: no ACDC images under {root!r}: expected '
                f'rgb_anon/{self.split}/**/*_rgb_anon.png (flattened) or '
                f'rgb_anon/<condition>/{self.split}/**/*_rgb_anon.png')

    def load_data_list(self) -> List[dict]:
        if self._sub_dirs is None:
            return super().load_data_list()
        prefix = self.data_prefix
        data_list = []
        try:
            for sub in self._sub_dirs:
                self.data_prefix = {
                    k: osp.join(v, sub)
                    for k, v in prefix.items()
                }
                data_list += super().load_data_list()
        finally:
            self.data_prefix = prefix
        return data_list
