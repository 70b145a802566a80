# Source only (L_cls), Digits, CLIP RN50 (no paper number).
_base_ = '../cmkd/digits_rn50.py'

model = dict(cmkd_loss=None)
