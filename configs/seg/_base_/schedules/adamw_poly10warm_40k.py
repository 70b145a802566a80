# DAFormer's schedule (configs/_base_/schedules/poly10warm.py: mmcv
# PolyLrUpdaterHook, power 1, linear warm-up 1500 iterations from 1e-6):
# AdamW lr 6e-5 (decode head x10: 6e-4), wd 0.01; evaluation every 4k.
# mmcv multiplies the warm-up onto the poly decay, which runs over the WHOLE
# run from iteration 0:  lr(i) = lr0 * (1 - i / max_iters) * w(i),
# w(i) = 1e-6 + (1 - 1e-6) * i / 1500 during the warm-up, else 1.
# mmengine multiplies chained schedulers the same way; both start at 0.
# mmengine's schedulers span `end - begin - 1` steps: begin=-1 makes PolyLR
# give exactly 1 - i / max_iters at iteration i; LinearLR reaches 1 at
# iteration warmup_iters - 1, one step before mmcv (<= 0.07 % higher lr
# during the warm-up only; configs/seg/README.md).
max_iters = 40000
warmup_iters = 1500
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=False,
        begin=0,
        end='${warmup_iters}'),
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        by_epoch=False,
        begin=-1,
        end='${max_iters}'),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters='${max_iters}', val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
