# Shared part of the digits PEFT baselines (paper Table VII on the real
# digits): the CMKD recipe of ../digits_efflite0_cmkd.py (MNIST -> UCI, 48 px,
# CMKD loss with the ImageNet-prototype teacher, lr 1e-3 with head x10,
# 150 iterations) with the ImageNet EfficientNet-Lite0 wrapped in a
# PEFTBackbone; each config only sets `method` (and `peft_cfg`).
#
# * The flat keys of the base backbone (model_name, checkpoint,
#   norm_eval=True) stay on the PEFTBackbone and go to the inner
#   TimmImageNetBackbone; CMKDClassifier also reads them from here for the
#   teacher's ImageNet classifier. The inner backbone loads the ImageNet
#   weights in its constructor, before peft injects any adapter.
# * norm_eval=True: BatchNorm running statistics stay frozen for every
#   method, as in the CMKD config.
# * custom_hooks is a list, so the base's PrototypeFitHook is restated. It
#   fits the teacher's prototypes on features of the wrapped backbone
#   before the first step, when every adapter is still zero.
# * PEFTHook logs the DSP (trainable backbone + head parameters) and runs
#   AdaLoRA's rank allocation.
_base_ = '../digits_efflite0_cmkd.py'

model = dict(
    backbone=dict(
        type='PEFTBackbone', backbone=dict(type='TimmImageNetBackbone')))
custom_hooks = [
    dict(type='mmvlpuda.PrototypeFitHook', max_per_class=100),
    dict(type='mmvlpuda.PEFTHook'),
]
