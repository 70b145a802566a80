# CMKD + RST, Digits, CLIP RN50 (paper: 96.1 avg over tasks, DSP 0.23M summed).
_base_ = ['../cmkd/digits_rn50.py', './_base_/rst.py']
