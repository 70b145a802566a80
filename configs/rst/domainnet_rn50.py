# CMKD + RST, DomainNet, CLIP RN50 (no paper number).
_base_ = ['../cmkd/domainnet_rn50.py', './_base_/rst.py']
