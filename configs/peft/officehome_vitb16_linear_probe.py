# Linear probe + CMKD, CLIP ViT-B/16, Office-Home (paper Table VII): the
# image tower is frozen (eval mode, no grad); only the task head trains.
_base_ = ['../cmkd/officehome_vitb16.py', './_base_/peft_hook.py']

model = dict(backbone=dict(type='PEFTBackbone', method='linear_probe'))
