# CMKD + FixMatch, Digits, CLIP RN50 (paper: 96.8 avg over tasks).
_base_ = ['./digits_rn50.py', '../_base_/datasets/fixmatch_strong_digits.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
