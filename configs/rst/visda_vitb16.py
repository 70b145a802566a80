# CMKD + RST, VisDA-2017, CLIP ViT-B/16 (paper: 89.1 mean class accuracy, DSP
# 0.06M summed).
_base_ = ['../cmkd/visda_vitb16.py', './_base_/rst.py']
