# CMKD + RST, ImageCLEF-DA, CLIP ViT-B/16 (paper: 93.9 avg over tasks, DSP
# 0.08M summed).
_base_ = ['../cmkd/imageclef_vitb16.py', './_base_/rst.py']
