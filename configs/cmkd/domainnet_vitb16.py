# CMKD, DomainNet, CLIP ViT-B/16 (clipart -> sketch; paper: 53.9 avg over
# tasks).
_base_ = ['./_base_/domainnet.py', './_base_/vit.py', './_base_/vitb16.py']
