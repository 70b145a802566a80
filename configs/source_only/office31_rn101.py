# Source only (L_cls), Office-31, CLIP RN101 (no paper number).
_base_ = '../cmkd/office31_rn101.py'

model = dict(cmkd_loss=None)
