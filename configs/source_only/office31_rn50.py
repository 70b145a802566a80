# Source only (L_cls), Office-31, CLIP RN50 (no paper number).
_base_ = '../cmkd/office31_rn50.py'

model = dict(cmkd_loss=None)
