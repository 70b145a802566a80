# CMKD, Digits, CLIP RN50 (svhn -> mnist; paper: 97.1 avg over tasks).
_base_ = ['./_base_/digits.py', './_base_/resnet.py', './_base_/rn50.py']
