# CMKD + FixMatch, Office-31, CLIP ViT-B/16 (paper: 94.4 avg over tasks).
_base_ = ['./office31_vitb16.py', '../_base_/datasets/fixmatch_strong.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
