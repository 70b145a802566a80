# CMKD + FixMatch, ImageCLEF-DA, CLIP RN50 (paper: 91.7 avg over tasks).
_base_ = ['./imageclef_rn50.py', '../_base_/datasets/fixmatch_strong.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
