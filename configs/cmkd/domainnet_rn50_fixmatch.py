# CMKD + FixMatch, DomainNet, CLIP RN50 (no paper number).
_base_ = ['./domainnet_rn50.py', '../_base_/datasets/fixmatch_strong.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
