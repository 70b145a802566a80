# RST (paper Eqs. 15-17): after every optimizer step, image-encoder weights
# within tau of their pretrained value are reset to it. tau is the
# top-level `rst_tau` of the backbone family (configs/cmkd/_base_/resnet.py,
# vit.py, visda_resnet.py, visda_vit.py). Only adds `custom_hooks`, so it
# combines with any configs/cmkd config:
#   _base_ = ['../cmkd/<benchmark>_<backbone>.py', './_base_/rst.py']
custom_hooks = [
    dict(type='mmvlpuda.RSTHook', tau='${rst_tau}', include=('backbone', ))
]
