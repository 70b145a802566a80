# CMKD, ImageCLEF-DA, CLIP ViT-B/16 (i -> p; paper: 94.2 avg over tasks).
_base_ = ['./_base_/imageclef.py', './_base_/vit.py', './_base_/vitb16.py']
