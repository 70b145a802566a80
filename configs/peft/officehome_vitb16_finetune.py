# Full fine-tuning + CMKD, CLIP ViT-B/16, Office-Home (paper Table VII; the
# same training as configs/cmkd/officehome_vitb16.py, with the DSP logged).
_base_ = ['../cmkd/officehome_vitb16.py', './_base_/peft_hook.py']

model = dict(backbone=dict(type='PEFTBackbone', method='finetune'))
