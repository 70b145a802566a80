# Source only (L_cls), Office-31, CLIP ViT-B/16 (no paper number).
_base_ = '../cmkd/office31_vitb16.py'

model = dict(cmkd_loss=None)
