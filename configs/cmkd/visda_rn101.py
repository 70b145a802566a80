# CMKD, VisDA-2017, CLIP RN101 (train -> validation; paper: 87.0 mean class
# accuracy).
_base_ = ['./_base_/visda.py', './_base_/visda_resnet.py', './_base_/rn101.py']
