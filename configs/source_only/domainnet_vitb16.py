# Source only (L_cls), DomainNet, CLIP ViT-B/16 (no paper number).
_base_ = '../cmkd/domainnet_vitb16.py'

model = dict(cmkd_loss=None)
