# CMKD, ImageCLEF-DA, CLIP RN50 (i -> p; paper: 91.7 avg over tasks).
_base_ = ['./_base_/imageclef.py', './_base_/resnet.py', './_base_/rn50.py']
