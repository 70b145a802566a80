# LoRA r=4 + CMKD, CLIP ViT-B/16, Office-Home (paper Table VII).
_base_ = './officehome_vitb16_lora_r1.py'

model = dict(backbone=dict(peft_cfg=dict(r=4, lora_alpha=4)))
