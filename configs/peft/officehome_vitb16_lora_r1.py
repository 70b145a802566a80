# LoRA r=1 + CMKD, CLIP ViT-B/16, Office-Home (paper Table VII). LoRA (peft)
# on every attention (q/k/v and output projection of nn.MultiheadAttention)
# and MLP Linear (c_fc, c_proj) of the image tower.
_base_ = ['../cmkd/officehome_vitb16.py', './_base_/peft_hook.py']

model = dict(
    backbone=dict(
        type='PEFTBackbone',
        method='lora',
        peft_cfg=dict(
            r=1,
            lora_alpha=1,
            lora_dropout=0.,
            target_modules=['attn', 'c_fc', 'c_proj'])))
