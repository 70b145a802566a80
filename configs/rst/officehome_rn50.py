# CMKD + RST, Office-Home, CLIP RN50 (paper: 78.8 avg over tasks, DSP 1.23M
# summed).
_base_ = ['../cmkd/officehome_rn50.py', './_base_/rst.py']
