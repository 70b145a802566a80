# Source only (L_cls), Digits, CLIP RN101 (no paper number).
_base_ = '../cmkd/digits_rn101.py'

model = dict(cmkd_loss=None)
