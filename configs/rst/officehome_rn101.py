# CMKD + RST, Office-Home, CLIP RN101 (no paper number).
_base_ = ['../cmkd/officehome_rn101.py', './_base_/rst.py']
