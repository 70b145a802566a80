# CMKD + RST, Office-31, CLIP RN101 (no paper number).
_base_ = ['../cmkd/office31_rn101.py', './_base_/rst.py']
