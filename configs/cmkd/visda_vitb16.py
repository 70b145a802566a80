# CMKD, VisDA-2017, CLIP ViT-B/16 (train -> validation; paper: 90.3 mean class
# accuracy).
_base_ = ['./_base_/visda.py', './_base_/visda_vit.py', './_base_/vitb16.py']
