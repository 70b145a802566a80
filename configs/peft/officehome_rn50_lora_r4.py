# LoRA r=4 + CMKD, CLIP RN50, Office-Home (paper Table VII).
_base_ = './officehome_rn50_lora_r1.py'

model = dict(backbone=dict(peft_cfg=dict(r=4, lora_alpha=4)))
