# Source only (L_cls), ImageCLEF-DA, CLIP ViT-B/16 (no paper number).
_base_ = '../cmkd/imageclef_vitb16.py'

model = dict(cmkd_loss=None)
