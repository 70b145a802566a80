# FixMatch strong target view (paper App. B, official TransformFixMatch):
# square warp to 256 -> centre 224 crop -> flip -> ColorJitter(0.4, 0.4, 0.4,
# 0) -> timm RandAugment 'rand-n2-m10-mstd0.5' (fill = CLIP mean).
# Variants: fixmatch_strong_visda.py (the official code warps to 224 for
# VisDA) and fixmatch_strong_digits.py (decoded digits: no file loading).
# Only defines a top-level key; a FixMatch config lists this file in
# `_base_` and sets
#   train_dataloader.dataset.target_strong = '${target_strong_pipeline}'
# (the weak view is the benchmark's target train pipeline) plus
# model.fixmatch_loss (lambda_fm / tau_fm: 0.5/0.95, VisDA 2.0/0.80,
# DomainNet 0.1/0.95; the grid keeps them in configs/cmkd/_base_/).
target_strong_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=(256, 256), keep_ratio=False, backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='mmpretrain.ColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.),
    dict(
        type='TimmRandAugment',
        config_str='rand-n2-m10-mstd0.5',
        img_mean=(123, 117, 104),
        translate_const=100),
    dict(type='mmpretrain.PackInputs'),
]
