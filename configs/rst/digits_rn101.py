# CMKD + RST, Digits, CLIP RN101 (no paper number).
_base_ = ['../cmkd/digits_rn101.py', './_base_/rst.py']
