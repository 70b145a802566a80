# CMKD + RST, Office-31, CLIP ViT-B/16 (paper: 93.2 avg over tasks, DSP 0.29M
# summed).
_base_ = ['../cmkd/office31_vitb16.py', './_base_/rst.py']
