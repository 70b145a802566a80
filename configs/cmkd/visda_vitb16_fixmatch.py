# CMKD + FixMatch, VisDA-2017, CLIP ViT-B/16 (paper: 91.8 mean class accuracy).
_base_ = ['./visda_vitb16.py', '../_base_/datasets/fixmatch_strong_visda.py']

model = dict(fixmatch_loss='${fixmatch_loss}')
train_dataloader = dict(
    dataset=dict(target_strong='${target_strong_pipeline}'))
