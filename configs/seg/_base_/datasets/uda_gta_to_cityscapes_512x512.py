# GTA (labeled source) -> Cityscapes (unlabeled target), DAFormer's
# uda_gta_to_cityscapes_512x512 in mmseg 1.x form, + Rare Class Sampling.
# Prepare: python tools/dataset_converters/gta.py data/gta  (trainIds + RCS
# statistics); Cityscapes with mmseg's tools/dataset_converters/cityscapes.py
_base_ = ['./_uda_seg_loaders.py']
gta_root = 'data/gta'
cityscapes_root = 'data/cityscapes'
crop_size = (512, 512)
gta_scale = (1280, 720)
cityscapes_scale = (1024, 512)

gta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale='${gta_scale}', keep_ratio=True),
    dict(type='RandomCrop', crop_size='${crop_size}', cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
cityscapes_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale='${cityscapes_scale}', keep_ratio=True),
    dict(type='RandomCrop', crop_size='${crop_size}'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale='${cityscapes_scale}', keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
source_train = dict(
    type='mmvlpuda.GTADataset',
    data_root='${gta_root}',
    data_prefix=dict(img_path='images', seg_map_path='labels'),
    pipeline='${gta_pipeline}')
target_train = dict(
    type='CityscapesDataset',
    data_root='${cityscapes_root}',
    data_prefix=dict(img_path='leftImg8bit/train'),
    pipeline='${cityscapes_train_pipeline}')
target_val = dict(
    type='CityscapesDataset',
    data_root='${cityscapes_root}',
    data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
    pipeline='${test_pipeline}')
