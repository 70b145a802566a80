# CMKD, DomainNet, CLIP RN50 (clipart -> sketch; no paper number).
_base_ = ['./_base_/domainnet.py', './_base_/resnet.py', './_base_/rn50.py']
