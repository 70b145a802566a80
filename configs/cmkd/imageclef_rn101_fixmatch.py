# CMKD + FixMatch, ImageCLEF-DA, CLIP RN101 (no paper number).
_base_ = ['./imageclef_rn101.py', '../_base_/datasets/fixmatch_strong.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
