# Linear probe + CMKD, ImageNet EfficientNet-Lite0, MNIST -> UCI (paper
# Table VII on the real digits). The backbone stays frozen (eval mode, no
# grad), and only the task head trains. Backbone DSP 0.
_base_ = './_base_/digits_efflite0_peft.py'

model = dict(backbone=dict(method='linear_probe'))
