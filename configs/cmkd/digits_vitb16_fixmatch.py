# CMKD + FixMatch, Digits, CLIP ViT-B/16 (paper: 98.5 avg over tasks).
_base_ = ['./digits_vitb16.py', '../_base_/datasets/fixmatch_strong_digits.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
