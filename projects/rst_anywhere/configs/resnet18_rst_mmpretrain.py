# Plain mmpretrain fine-tuning config (ResNet-18 ImageClassifier on a folder
# tree) + Residual Sparse Training. The only mmvlpuda-specific lines are
# `custom_imports` and `custom_hooks` at the bottom; everything else is a
# stock mmpretrain config, kept inline (no `_base_ = 'mmpretrain::...'`).
#
# Data layout (CustomDataset, one sub-folder per class):
#   data/rst_toy_cls/train/<class>/*.png
#   data/rst_toy_cls/val/<class>/*.png
default_scope = 'mmpretrain'

data_root = 'data/rst_toy_cls'
num_classes = 3
img_size = 32

# model --------------------------------------------------------------------
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        # RST fine-tunes *pretrained* weights: w0 is whatever the backbone
        # holds when training starts (after init_cfg / load_from), e.g.
        # init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')
        init_cfg=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

# data ---------------------------------------------------------------------
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.5, 1.)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        with_label=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        with_label=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# schedule -----------------------------------------------------------------
max_iters = 2000
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=100,
        end=max_iters,
        eta_min=1e-5),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=500)
val_cfg = dict()
test_cfg = dict()

# runtime ------------------------------------------------------------------
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=500,
        max_keep_ckpts=2,
        save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False, window_size=50)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)

# Residual Sparse Training: the only two additions ---------------------------
custom_imports = dict(imports=['mmvlpuda'], allow_failed_imports=False)
custom_hooks = [dict(type='RSTHook', tau=1e-4, include=('backbone', ))]
