# Source only (L_cls), Office-Home, CLIP RN101 (no paper number).
_base_ = '../cmkd/officehome_rn101.py'

model = dict(cmkd_loss=None)
