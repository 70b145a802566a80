# CMKD + FixMatch, Office-Home, CLIP RN50 (paper: 80.3 avg over tasks).
_base_ = ['./officehome_rn50.py', '../_base_/datasets/fixmatch_strong.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
