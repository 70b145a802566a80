# LoRA r=1 + CMKD, CLIP RN50, Office-Home (paper Table VII). LoRA (peft) on
# every Conv2d of the image tower (stem, bottlenecks, downsample); the
# attention pool reads its q/k/v/c_proj weights directly, so peft cannot
# adapt it.
_base_ = ['../cmkd/officehome_rn50.py', './_base_/peft_hook.py']

model = dict(
    backbone=dict(
        type='PEFTBackbone',
        method='lora',
        peft_cfg=dict(
            r=1,
            lora_alpha=1,
            lora_dropout=0.,
            target_modules=['conv1', 'conv2', 'conv3', 'downsample.0'])))
