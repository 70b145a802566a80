# Source only (L_cls), DomainNet, CLIP RN50 (no paper number).
_base_ = '../cmkd/domainnet_rn50.py'

model = dict(cmkd_loss=None)
