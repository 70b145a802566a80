# CMKD + RST, Digits, CLIP ViT-B/16 (paper: 96.7 avg over tasks, DSP 0.72M
# summed).
_base_ = ['../cmkd/digits_vitb16.py', './_base_/rst.py']
