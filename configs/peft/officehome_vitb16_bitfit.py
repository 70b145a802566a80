# BitFit + CMKD, CLIP ViT-B/16, Office-Home (paper Table VII): only the
# biases of the image tower (LayerNorm, attention and MLP biases) and the
# head train.
_base_ = ['../cmkd/officehome_vitb16.py', './_base_/peft_hook.py']

model = dict(backbone=dict(type='PEFTBackbone', method='bitfit'))
