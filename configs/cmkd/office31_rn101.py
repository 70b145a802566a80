# CMKD, Office-31, CLIP RN101 (amazon -> webcam; no paper number).
_base_ = ['./_base_/office31.py', './_base_/resnet.py', './_base_/rn101.py']
