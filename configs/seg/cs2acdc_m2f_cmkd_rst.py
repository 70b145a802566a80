# + Residual Sparse Training on backbone AND decoder, tau 2e-6 -> 1e-4
# (paper App. L, Table IX: 50.4 mIoU, DSP 5.52M).
_base_ = './cs2acdc_m2f_cmkd.py'
custom_hooks = [
    dict(
        type='RSTHook',
        tau=2e-6,
        tau_end=1e-4,
        include=('model.backbone', 'model.decode_head'))
]
