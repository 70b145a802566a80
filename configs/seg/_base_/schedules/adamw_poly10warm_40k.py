# DAFormer's schedule: AdamW lr 6e-5 (decode head x10: 6e-4), wd 0.01,
# linear warm-up over 1500 iterations, then linear (poly, power 1) decay
# to 0 at 40k iterations; evaluation every 4k.
max_iters = 40000
warmup_iters = 1500
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end='${warmup_iters}'),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False,
         begin='${warmup_iters}', end='${max_iters}'),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters='${max_iters}', val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
