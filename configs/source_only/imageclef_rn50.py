# Source only (L_cls), ImageCLEF-DA, CLIP RN50 (no paper number).
_base_ = '../cmkd/imageclef_rn50.py'

model = dict(cmkd_loss=None)
