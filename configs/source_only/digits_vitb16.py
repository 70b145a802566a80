# Source only (L_cls), Digits, CLIP ViT-B/16 (no paper number).
_base_ = '../cmkd/digits_vitb16.py'

model = dict(cmkd_loss=None)
