# CMKD, DomainNet, CLIP RN101 (clipart -> sketch; no paper number).
_base_ = ['./_base_/domainnet.py', './_base_/resnet.py', './_base_/rn101.py']
