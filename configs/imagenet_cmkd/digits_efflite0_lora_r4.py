# LoRA r=4 + CMKD, ImageNet EfficientNet-Lite0, MNIST -> UCI (paper Table VII
# on the real digits). Same 33 convolutions as r=1. Backbone DSP 91,372.
_base_ = './digits_efflite0_lora_r1.py'

model = dict(backbone=dict(peft_cfg=dict(r=4, lora_alpha=4)))
