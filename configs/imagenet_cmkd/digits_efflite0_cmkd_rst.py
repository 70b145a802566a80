# CMKD + RST (App. E: tau = 1e-6) on the EfficientNet-Lite0 backbone.
_base_ = './digits_efflite0_cmkd.py'
custom_hooks = [
    dict(type='PrototypeFitHook', max_per_class=100),
    dict(type='RSTHook', tau=1e-6, include=('backbone', )),
]
