# AdaLoRA r 2 -> 1 + CMKD, ImageNet EfficientNet-Lite0, MNIST -> UCI (paper
# Table VII on the real digits). Same 32 pointwise convs as r 8 -> 4.
# Backbone DSP 45,632 at the start.
_base_ = './digits_efflite0_adalora_r8to4.py'

model = dict(backbone=dict(peft_cfg=dict(init_r=2, target_r=1, lora_alpha=2)))
