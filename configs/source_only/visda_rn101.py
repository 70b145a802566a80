# Source only (L_cls), VisDA-2017, CLIP RN101 (no paper number).
_base_ = '../cmkd/visda_rn101.py'

model = dict(cmkd_loss=None)
