# CMKD + RST, DomainNet, CLIP ViT-B/16 (paper: 52.2 avg over tasks, DSP 15.71M
# summed).
_base_ = ['../cmkd/domainnet_vitb16.py', './_base_/rst.py']
