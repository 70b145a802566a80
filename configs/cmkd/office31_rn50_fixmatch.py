# CMKD + FixMatch, Office-31, CLIP RN50 (paper: 91.9 avg over tasks).
_base_ = ['./office31_rn50.py', '../_base_/datasets/fixmatch_strong.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
