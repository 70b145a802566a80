# Source only (L_cls), Office-Home, CLIP RN50 (paper: 63.7 avg over tasks).
_base_ = '../cmkd/officehome_rn50.py'

model = dict(cmkd_loss=None)
