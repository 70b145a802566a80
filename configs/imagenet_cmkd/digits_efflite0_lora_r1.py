# LoRA r=1 + CMKD, ImageNet EfficientNet-Lite0, MNIST -> UCI (paper Table VII
# on the real digits). peft LoRA on the stem, every pointwise conv of the
# MBConv blocks (conv_pw expand, conv_pwl project) and the 1x1 head conv:
# 33 of the 49 convolutions. Backbone DSP 22,843 at r=1.
#
# * conv_stem is timm's Conv2dSame (TF 'same' padding computed in forward).
#   peft builds lora_A with the base layer's class, so the adapter pads
#   exactly like the stem: B*A equals a merged stem weight.
# * The 16 depthwise convs (conv_dw, groups = channels) are excluded. peft
#   0.21 requires r % groups == 0 (groups is 32 to 1152), and even with
#   r = groups its adapter is a dense kxk conv (C*C*k^2 parameters, more than
#   the C*k^2 depthwise weight), not a low-rank update of the depthwise
#   kernel, and it cannot be merged.
# * lora_alpha = r (scaling 1) and dropout 0, as in configs/peft. The adapters
#   train at the CMKD backbone lr (1e-3).
_base_ = './_base_/digits_efflite0_peft.py'

model = dict(
    backbone=dict(
        method='lora',
        peft_cfg=dict(
            r=1,
            lora_alpha=1,
            lora_dropout=0.,
            target_modules=['conv_stem', 'conv_pw', 'conv_pwl', 'conv_head'])))
