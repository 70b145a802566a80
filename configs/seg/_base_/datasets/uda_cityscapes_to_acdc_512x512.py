# Cityscapes (labeled source) -> ACDC (unlabeled target, all four
# conditions), DAFormer's uda_cityscapes_to_acdc_512x512 in mmseg 1.x form,
# + Rare Class Sampling on Cityscapes. ACDC is read in its download layout
# (rgb_anon/<condition>/<split>/...); `acdc_conditions` picks a subset.
# RCS statistics: python tools/dataset_converters/rcs_stats.py
#   data/cityscapes --label-dir gtFine/train --suffix _gtFine_labelTrainIds.png
_base_ = ['./_uda_seg_loaders.py']
cityscapes_root = 'data/cityscapes'
acdc_root = 'data/acdc'
acdc_conditions = ('fog', 'night', 'rain', 'snow')
crop_size = (512, 512)
cityscapes_scale = (1024, 512)
acdc_scale = (960, 540)

cityscapes_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale='${cityscapes_scale}', keep_ratio=True),
    dict(type='RandomCrop', crop_size='${crop_size}', cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
acdc_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale='${acdc_scale}', keep_ratio=True),
    dict(type='RandomCrop', crop_size='${crop_size}'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale='${acdc_scale}', keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
source_train = dict(
    type='CityscapesDataset',
    data_root='${cityscapes_root}',
    data_prefix=dict(
        img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
    pipeline='${cityscapes_pipeline}')
target_train = dict(
    type='mmvlpuda.ACDCDataset',
    data_root='${acdc_root}',
    split='train',
    conditions='${acdc_conditions}',
    with_labels=False,
    pipeline='${acdc_train_pipeline}')
target_val = dict(
    type='mmvlpuda.ACDCDataset',
    data_root='${acdc_root}',
    split='val',
    conditions='${acdc_conditions}',
    pipeline='${test_pipeline}')
