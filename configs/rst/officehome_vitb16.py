# CMKD + RST, Office-Home, CLIP ViT-B/16 (paper: 87.7 avg over tasks, DSP 1.02M
# summed).
_base_ = ['../cmkd/officehome_vitb16.py', './_base_/rst.py']
