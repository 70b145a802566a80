# Linear probe + CMKD, CLIP RN50, Office-Home (paper Table VII): the image
# tower is frozen (eval mode, no grad); only the task head trains.
_base_ = ['../cmkd/officehome_rn50.py', './_base_/peft_hook.py']

model = dict(backbone=dict(type='PEFTBackbone', method='linear_probe'))
