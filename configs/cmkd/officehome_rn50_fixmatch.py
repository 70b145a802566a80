# CMKD + FixMatch, CLIP RN50, Office-Home (paper App. B). Pseudo-labels from
# the task head and the text head on the weak target view (threshold >= 0.95),
# CE on the strong view of the same images, lambda_fm = 0.5 (paper: VisDA
# 2.0/0.80, DomainNet 0.1/0.95).
_base_ = [
    './officehome_rn50.py',
    '../_base_/datasets/fixmatch_strong.py',
]

model = dict(fixmatch_loss=dict(type='FixMatchLoss', weight=0.5,
                                threshold=0.95))
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
