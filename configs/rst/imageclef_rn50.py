# CMKD + RST, ImageCLEF-DA, CLIP RN50 (paper: 92.2 avg over tasks, DSP 0.21M
# summed).
_base_ = ['../cmkd/imageclef_rn50.py', './_base_/rst.py']
