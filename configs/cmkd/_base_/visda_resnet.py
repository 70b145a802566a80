# CLIP ResNets on VisDA-2017. Paper: RN101 lr 3e-9 (head multiplier not
# restated: the ResNet x1e4 is kept), RST tau 1e-8 (App. A). RN50 on VisDA
# (not in the paper) gets the same values.
_base_ = ['./resnet.py']
lr = 3e-9
rst_tau = 1e-8
