# Source only (L_cls), DomainNet, CLIP RN101 (no paper number).
_base_ = '../cmkd/domainnet_rn101.py'

model = dict(cmkd_loss=None)
