"""UDA pairs for semantic segmentation, with optional Rare Class Sampling."""
from typing import Optional, Union

from torch.utils.data import Dataset

from mmvlpuda.registry import DATASETS
from ..uda_dataset import UDADataset, _strip_labels
from .rcs import RareClassSampler

RCS_DEFAULTS = dict(
    class_temp=0.01,
    min_pixels=3000,
    min_crop_ratio=0.5,
    stats_file=None,
    crop_retries=10)


def strip_seg_labels(item):
    """Remove every label (``gt_label``, ``gt_sem_seg``, ``gt_seg_map``) of
    a target item, packed or not."""
    item = _strip_labels(item)
    if not isinstance(item, dict):
        return item
    item.pop('gt_seg_map', None)
    sample = item.get('data_samples')
    if sample is not None and 'gt_sem_seg' in sample:
        del sample.gt_sem_seg
    return item


def class_pixels(item: dict, cls: int) -> int:
    """Pixels of class ``cls`` in an item's (packed or raw) ground truth."""
    sample = item.get('data_samples') if isinstance(item, dict) else None
    if sample is not None and 'gt_sem_seg' in sample:
        return int((sample.gt_sem_seg.data == cls).sum())
    if isinstance(item, dict) and 'gt_seg_map' in item:
        return int((item['gt_seg_map'] == cls).sum())
    raise ValueError('rare_class_sampling: the source pipeline gives no '
                     'segmentation label (add LoadAnnotations)')


@DATASETS.register_module()
class UDASegDataset(UDADataset):
    """Labeled source + unlabeled target pairs for segmentation.

    Item: ``dict(source=packed_source, target=packed_target)``; the target
    loses ``gt_sem_seg``. The length is ``max(len(source), len(target))``
    (never DAFormer's product). With ``rare_class_sampling`` the source
    sample follows DAFormer's Rare Class Sampling and ``idx`` is ignored:
    ``c ~ softmax((1 - f_c) / class_temp)``, an image with more than
    ``min_pixels`` pixels of ``c`` is drawn uniformly and its crop is
    retried up to ``crop_retries`` times until it holds more than
    ``min_pixels * min_crop_ratio`` pixels of ``c`` (else the last crop is
    kept). Draws use the same per-worker generator as the target draws.

    Args:
        source (dict | Dataset): labeled source dataset.
        target (dict | Dataset): target dataset.
        rare_class_sampling (dict, optional): keys ``class_temp`` (0.01),
            ``min_pixels`` (3000), ``min_crop_ratio`` (0.5), ``stats_file``
            (None: ``<source data_root>/sample_class_stats.json``; a folder
            or that file's path) and ``crop_retries`` (10). Statistics come
            from ``tools/dataset_converters/rcs_stats.py``.
        **kwargs: ``seed``, ``drop_target_labels``, ``target_strong`` of
            :class:`UDADataset`.

    Example:
        >>> train_dataloader = dict(
        ...     batch_size=2, sampler=dict(type='InfiniteSampler'),
        ...     dataset=dict(
        ...         type='mmvlpuda.UDASegDataset',
        ...         source=dict(type='mmvlpuda.GTADataset',
        ...                     data_root='data/gta', pipeline=src_pipe),
        ...         target=dict(type='CityscapesDataset',
        ...                     data_root='data/cityscapes',
        ...                     data_prefix=dict(
        ...                         img_path='leftImg8bit/train'),
        ...                     pipeline=tgt_pipe),
        ...         rare_class_sampling=dict(min_pixels=3000,
        ...                                  class_temp=0.01,
        ...                                  min_crop_ratio=0.5)))
    """

    def __init__(self,
                 source: Union[dict, Dataset],
                 target: Union[dict, Dataset],
                 rare_class_sampling: Optional[dict] = None,
                 **kwargs):
        super().__init__(source, target, **kwargs)
        self.rcs_cfg = None
        self.rcs = None
        if rare_class_sampling is not None:
            self.rcs_cfg = self._parse_rcs(rare_class_sampling)
            self.rcs = RareClassSampler(
                self.source,
                class_temp=self.rcs_cfg['class_temp'],
                min_pixels=self.rcs_cfg['min_pixels'],
                stats_file=self.rcs_cfg['stats_file'])

    @staticmethod
    def _parse_rcs(cfg: dict) -> dict:
        unknown = set(cfg) - set(RCS_DEFAULTS)
        if unknown:
            raise ValueError(f'UDASegDataset: unknown key(s) {sorted(unknown)}'
                             f' in `rare_class_sampling`; valid keys: '
                             f'{sorted(RCS_DEFAULTS)}')
        return {**RCS_DEFAULTS, **cfg}

    def _rcs_source(self) -> dict:
        cls, idx = self.rcs.draw(self._target_rng())
        src = self.source[idx]
        ratio = self.rcs_cfg['min_crop_ratio']
        if ratio <= 0:
            return src
        min_crop = self.rcs_cfg['min_pixels'] * ratio
        for _ in range(self.rcs_cfg['crop_retries']):
            if class_pixels(src, cls) > min_crop:
                break
            src = self.source[idx]  # a new random crop of the same image
        return src

    def _draw_target(self) -> dict:
        j = int(self._target_rng().integers(len(self.target)))
        item = dict(target=self.target[j])
        if self.target_strong is not None or self.strong_pipeline is not None:
            item['target_strong'] = self._strong_view(j)
        return item

    def __getitem__(self, idx: int) -> dict:
        if self.rcs is None:
            item = super().__getitem__(idx)
        else:
            item = dict(source=self._rcs_source(), **self._draw_target())
        if self.drop_target_labels:
            for key in ('target', 'target_strong'):
                if key in item:
                    item[key] = strip_seg_labels(item[key])
        return item
