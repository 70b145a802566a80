# Official CMKD schedule: SGD (nesterov, momentum 0.9, wd 5e-4) with the
# inverse decay lr * (1 + 3e-4 * it) ** -0.75 stepped every iteration; the
# task head trains with a larger lr (lr_mult; x1e4 for ResNets, x1e3 ViT).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD', lr=3e-7, momentum=0.9, nesterov=True, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'task_head': dict(lr_mult=10000.)}))
param_scheduler = [
    dict(type='InverseDecayLR', gamma=3e-4, power=0.75, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=10000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
