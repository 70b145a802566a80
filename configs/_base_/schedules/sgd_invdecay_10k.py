# Official CMKD schedule: SGD (nesterov, momentum 0.9, wd 5e-4) with the
# inverse decay lr * (1 + 3e-4 * it) ** -0.75 stepped every iteration; the
# task head trains with a larger lr (lr_mult; x1e4 for ResNets, x1e3 ViT).
# Top-level keys referenced here: `lr` (backbone lr) and `head_lr_mult`, set
# per backbone in configs/cmkd/_base_/{resnet,vit,visda_resnet,visda_vit}.py
# (a config using this file without the grid sets them itself).
# 10k iterations as Office-Home/Office-31/ImageCLEF; the benchmark files in
# configs/cmkd/_base_/ override train_cfg for VisDA, Digits and DomainNet.
# MergedGroupsOptimWrapperConstructor: mmengine's paramwise_cfg gives one
# param group per parameter; merged, the optimizer has the official two
# (backbone, head) and steps faster with the same update.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='MergedGroupsOptimWrapperConstructor',
    optimizer=dict(
        type='SGD', lr='${lr}', momentum=0.9, nesterov=True,
        weight_decay=5e-4),
    paramwise_cfg=dict(
        custom_keys={'task_head': dict(lr_mult='${head_lr_mult}')}))
param_scheduler = [
    dict(type='InverseDecayLR', gamma=3e-4, power=0.75, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=10000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
