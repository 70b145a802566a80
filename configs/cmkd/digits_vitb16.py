# CMKD, Digits, CLIP ViT-B/16 (svhn -> mnist; paper: 98.3 avg over tasks).
_base_ = ['./_base_/digits.py', './_base_/vit.py', './_base_/vitb16.py']
