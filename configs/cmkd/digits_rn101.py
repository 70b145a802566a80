# CMKD, Digits, CLIP RN101 (svhn -> mnist; no paper number).
_base_ = ['./_base_/digits.py', './_base_/resnet.py', './_base_/rn101.py']
