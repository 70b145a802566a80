# Partial-set DA with CMKD, CLIP ViT-B/16, Office-Home 65 -> 25 (paper App. K).
_base_ = './officehome_rn50.py'

model = dict(backbone=dict(arch='ViT-B-16'))
optim_wrapper = dict(
    optimizer=dict(lr=3e-6),
    paramwise_cfg=dict(custom_keys={'task_head': dict(lr_mult=1000.)}))
