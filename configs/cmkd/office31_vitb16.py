# CMKD, Office-31, CLIP ViT-B/16 (amazon -> webcam; paper: 93.4 avg over
# tasks).
_base_ = ['./_base_/office31.py', './_base_/vit.py', './_base_/vitb16.py']
