# AdaLoRA r 8 -> 4 + CMKD, CLIP ViT-B/16, Office-Home (paper Table VII).
# SVD-form adapters on the attention (in_proj and out_proj) and MLP of every
# block; PEFTHook reallocates the ranks after each optimizer step over
# total_step = train_cfg.max_iters. tinit/tfinal are fractions of it (the
# paper does not give its schedule).
_base_ = ['../cmkd/officehome_vitb16.py', './_base_/peft_hook.py']

model = dict(
    backbone=dict(
        type='PEFTBackbone',
        method='adalora',
        peft_cfg=dict(
            init_r=8,
            target_r=4,
            lora_alpha=8,
            lora_dropout=0.,
            tinit=0.1,
            tfinal=0.2,
            deltaT=10,
            target_modules=['attn', 'c_fc', 'c_proj'])))
