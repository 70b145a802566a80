# CMKD, Office-31, CLIP RN50 (amazon -> webcam; paper: 90.9 avg over tasks).
_base_ = ['./_base_/office31.py', './_base_/resnet.py', './_base_/rn50.py']
