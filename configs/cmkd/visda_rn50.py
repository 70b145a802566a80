# CMKD, VisDA-2017, CLIP RN50 (train -> validation; no paper number).
_base_ = ['./_base_/visda.py', './_base_/visda_resnet.py', './_base_/rn50.py']
