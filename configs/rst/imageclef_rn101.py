# CMKD + RST, ImageCLEF-DA, CLIP RN101 (no paper number).
_base_ = ['../cmkd/imageclef_rn101.py', './_base_/rst.py']
