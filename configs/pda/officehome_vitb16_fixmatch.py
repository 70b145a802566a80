# Partial-set DA with CMKD + FixMatch, CLIP ViT-B/16, Office-Home 65 -> 25.
_base_ = [
    './officehome_vitb16.py',
    '../_base_/datasets/fixmatch_strong.py',
]

model = dict(
    fixmatch_loss=dict(type='FixMatchLoss', weight=0.5, threshold=0.95))
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
