# BitFit + CMKD, CLIP RN50, Office-Home (paper Table VII): only the biases of
# the image tower (BatchNorm betas, attention-pool biases) and the head train.
_base_ = ['../cmkd/officehome_rn50.py', './_base_/peft_hook.py']

model = dict(backbone=dict(type='PEFTBackbone', method='bitfit'))
