# Source only (L_cls), Office-Home, CLIP ViT-B/16 (paper: 80.7 avg over tasks).
_base_ = '../cmkd/officehome_vitb16.py'

model = dict(cmkd_loss=None)
