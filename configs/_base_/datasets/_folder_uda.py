# Shared part of the folder-layout UDA benchmarks (Office-Home, Office-31,
# ImageCLEF-DA, VisDA-2017, DomainNet): ${data_root}/<domain>/<class>/<images>,
# one DomainFolderDataset per domain, labels in the order of `classes`.
# A benchmark file sets data_root, source_domain, target_domain, classes,
# templates (and may redefine train_pipeline / test_pipeline, which the
# datasets reference as '${train_pipeline}' / '${test_pipeline}').

# official transforms (upstream §5): square warp to 256, random 224 crop,
# flip / square warp to 224, no crop. Decoding and resizing use pillow, as
# the official torchvision transforms on PIL images (antialiased when
# downscaling; cv2's default bilinear aliases). CLIP mean/std are applied by
# the model's data preprocessor.
train_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=(256, 256), keep_ratio=False, backend='pillow'),
    dict(type='mmpretrain.RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False, backend='pillow'),
    dict(type='mmpretrain.PackInputs'),
]

# Target evaluation protocol. 0 = transductive, as the paper and the
# official code: adapt on and evaluate on the whole target domain.
# 0 < r < 1 = held-out split: r of every target class (stratified, seeded by
# target_holdout_seed) is used only for evaluation, the rest only for
# adaptation.  e.g. --cfg-options target_holdout=0.2
target_holdout = 0.
target_holdout_seed = 0

folder_dataset = dict(
    type='DomainFolderDataset', data_root='${data_root}', classes='${classes}')

train_dataloader = dict(
    batch_size=32,  # 32 source + 32 target images per iteration
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='UDAInfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            **folder_dataset,
            domain='${source_domain}',
            pipeline='${train_pipeline}'),
        target=dict(
            **folder_dataset,
            domain='${target_domain}',
            pipeline='${train_pipeline}',
            holdout=dict(
                ratio='${target_holdout}',
                seed='${target_holdout_seed}',
                part='train'))))
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **folder_dataset,
        domain='${target_domain}',
        pipeline='${test_pipeline}',
        test_mode=True,
        holdout=dict(
            ratio='${target_holdout}',
            seed='${target_holdout_seed}',
            part='test')))
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
