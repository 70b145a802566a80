# BitFit + CMKD, ImageNet EfficientNet-Lite0, MNIST -> UCI (paper Table VII
# on the real digits). EfficientNet's convolutions have no bias (each is
# followed by a BatchNorm), so the biases are the 49 BatchNorm betas
# (`*.bn*.bias`): 21,008 parameters. The BN gammas stay frozen, and so do the
# running statistics (norm_eval=True). The task head trains as well.
_base_ = './_base_/digits_efflite0_peft.py'

model = dict(backbone=dict(method='bitfit'))
