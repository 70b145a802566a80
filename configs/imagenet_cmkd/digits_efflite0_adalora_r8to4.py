# AdaLoRA r 8 -> 4 + CMKD, ImageNet EfficientNet-Lite0, MNIST -> UCI (paper
# Table VII on the real digits). peft's SVDConv2d adapters (P diag(E) Q) on
# the 32 pointwise 1x1 convs (conv_pw, conv_pwl, conv_head). Backbone DSP is
# 182,528 at the start, and about half of that at the final budget.
# PEFTHook reallocates the ranks after each optimizer step over
# total_step = train_cfg.max_iters. tinit/tfinal are fractions of it, as in
# configs/peft (the paper gives no schedule).
#
# Not adapted, because peft 0.21's SVDConv2d gives wrong shapes on them:
# * depthwise conv_dw: it builds Q as (r, C_in*k^2) and reshapes B*diag(E)*Q
#   (C_out x C_in*k^2) to the depthwise weight (C_out, 1, k, k), which fails;
# * conv_stem (timm Conv2dSame): it convolves with the module's padding
#   attribute (0), not the TF 'same' padding done in Conv2dSame.forward, so
#   the adapter output is one pixel smaller than the stem's.
# LoRA (digits_efflite0_lora_r*.py) also covers the stem.
_base_ = './_base_/digits_efflite0_peft.py'

model = dict(
    backbone=dict(
        method='adalora',
        peft_cfg=dict(
            init_r=8,
            target_r=4,
            lora_alpha=8,
            lora_dropout=0.,
            tinit=0.1,
            tfinal=0.2,
            deltaT=10,
            target_modules=['conv_pw', 'conv_pwl', 'conv_head'])))
