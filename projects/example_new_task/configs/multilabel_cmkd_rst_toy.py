# Multi-label UDA (example project): CMKD with a two-prompt CLIP teacher +
# RST, on the toy shapes of tools/make_toy_data.py:
#   ${data_root}/<domain>/*.png + ${data_root}/<domain>.json
# (mmpretrain MultiLabelDataset annotation files). For real data, point
# data_root/classes at your own files and use arch='RN50',
# pretrained='openai' (or a local CLIP weight file) and image_size=224.
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(
    imports=['mmvlpuda', 'projects.example_new_task.multilabel_cmkd'],
    allow_failed_imports=False)
data_root = 'data/toy_multilabel'
source_domain = 'plain'
target_domain = 'noisy'
classes = ['square', 'disc', 'bar', 'cross']

model = dict(
    type='MultiLabelCMKD',
    backbone=dict(
        type='CLIPVisualBackbone',
        arch='mmvlpuda-tiny-rn',
        pretrained=None,
        image_size=64),
    task_head=dict(type='TaskHead'),
    teacher_head=dict(type='BinaryPromptHead', classnames='${classes}'),
    cmkd_loss=dict(type='CMKDLoss', variant='paper', ramp_iters=20))

pipeline = [dict(type='LoadImageFromFile'), dict(type='mmpretrain.PackInputs')]
domain = dict(
    type='mmpretrain.MultiLabelDataset',
    data_root='${data_root}',
    metainfo=dict(classes='${classes}'),
    pipeline=pipeline)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='UDAInfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(**domain, ann_file='${source_domain}.json'),
        target=dict(**domain, ann_file='${target_domain}.json')))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**domain, ann_file='${target_domain}.json', test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmpretrain.AveragePrecision')  # multi-label/mAP
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9),
    paramwise_cfg=dict(custom_keys={'task_head': dict(lr_mult=10.)}))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=20, max_keep_ckpts=2))
custom_hooks = [
    dict(type='mmvlpuda.RSTHook', tau=1e-4, include=('backbone', )),
    dict(type='mmvlpuda.ExportPatchHook', filename='final.patch')
]
