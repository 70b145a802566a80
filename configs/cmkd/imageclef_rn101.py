# CMKD, ImageCLEF-DA, CLIP RN101 (i -> p; no paper number).
_base_ = ['./_base_/imageclef.py', './_base_/resnet.py', './_base_/rn101.py']
