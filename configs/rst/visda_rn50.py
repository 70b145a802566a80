# CMKD + RST, VisDA-2017, CLIP RN50 (no paper number).
_base_ = ['../cmkd/visda_rn50.py', './_base_/rst.py']
