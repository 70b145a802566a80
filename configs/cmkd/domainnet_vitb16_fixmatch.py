# CMKD + FixMatch, DomainNet, CLIP ViT-B/16 (paper: 54.3 avg over tasks).
_base_ = ['./domainnet_vitb16.py', '../_base_/datasets/fixmatch_strong.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
