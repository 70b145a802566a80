# Full fine-tuning + CMKD, CLIP RN50, Office-Home (paper Table VII; the same
# training as configs/cmkd/officehome_rn50.py, with the DSP logged).
_base_ = ['../cmkd/officehome_rn50.py', './_base_/peft_hook.py']

model = dict(backbone=dict(type='PEFTBackbone', method='finetune'))
