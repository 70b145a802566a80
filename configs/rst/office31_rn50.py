# CMKD + RST, Office-31, CLIP RN50 (paper: 90.8 avg over tasks, DSP 0.31M
# summed).
_base_ = ['../cmkd/office31_rn50.py', './_base_/rst.py']
