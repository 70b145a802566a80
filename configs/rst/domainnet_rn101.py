# CMKD + RST, DomainNet, CLIP RN101 (no paper number).
_base_ = ['../cmkd/domainnet_rn101.py', './_base_/rst.py']
