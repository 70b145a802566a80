# CMKD + RST, CLIP ViT-B/16, Office-Home (paper Table I: 87.7 avg, DSP
# 1.02M summed over 12 tasks; tau=1e-6).
_base_ = '../cmkd/officehome_vitb16.py'

custom_hooks = [dict(type='RSTHook', tau=1e-6, include=('backbone', ))]
