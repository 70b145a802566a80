# Source only (L_cls), VisDA-2017, CLIP RN50 (no paper number).
_base_ = '../cmkd/visda_rn50.py'

model = dict(cmkd_loss=None)
