# Source only (L_cls), VisDA-2017, CLIP ViT-B/16 (no paper number).
_base_ = '../cmkd/visda_vitb16.py'

model = dict(cmkd_loss=None)
