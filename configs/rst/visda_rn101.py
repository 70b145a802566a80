# CMKD + RST, VisDA-2017, CLIP RN101 (paper: 86.6 mean class accuracy, DSP
# 0.03M summed).
_base_ = ['../cmkd/visda_rn101.py', './_base_/rst.py']
