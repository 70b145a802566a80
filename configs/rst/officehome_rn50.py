# CMKD + RST, CLIP RN50, Office-Home (paper Table I: 78.8 avg, DSP 1.23M
# summed over 12 tasks; Fig. 4 uses tau=1e-6).
_base_ = '../cmkd/officehome_rn50.py'

custom_hooks = [dict(type='RSTHook', tau=1e-6, include=('backbone', ))]
