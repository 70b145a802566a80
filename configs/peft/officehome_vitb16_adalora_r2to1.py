# AdaLoRA r 2 -> 1 + CMKD, CLIP ViT-B/16, Office-Home (paper Table VII).
_base_ = './officehome_vitb16_adalora_r8to4.py'

model = dict(backbone=dict(peft_cfg=dict(init_r=2, target_r=1, lora_alpha=2)))
