# Source only (L_cls), ImageCLEF-DA, CLIP RN101 (no paper number).
_base_ = '../cmkd/imageclef_rn101.py'

model = dict(cmkd_loss=None)
