# Partial-set DA with CMKD + FixMatch, CLIP RN50, Office-Home 65 -> 25 (paper
# App. B + K): the FixMatch pseudo-labels are restricted to the kept classes
# and the FixMatch terms are scaled with the other transfer terms (x 0.1).
_base_ = [
    './officehome_rn50.py',
    '../_base_/datasets/fixmatch_strong.py',
]

model = dict(
    fixmatch_loss=dict(type='FixMatchLoss', weight=0.5, threshold=0.95))
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
