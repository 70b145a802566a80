# Dataloaders shared by the segmentation UDA benchmarks: a labeled source
# and an unlabeled target paired by UDASegDataset (+ Rare Class Sampling on
# the source), evaluation on the target's labeled validation split. A
# benchmark file inheriting this one defines the datasets as top-level keys
# `source_train`, `target_train`, `target_val` (and `rcs`).
rcs = dict(class_temp=0.01, min_pixels=3000, min_crop_ratio=0.5)
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='mmvlpuda.UDASegDataset',
        rare_class_sampling='${rcs}',
        source='${source_train}',
        target='${target_train}'))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset='${target_val}')
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
