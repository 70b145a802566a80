# Table VII "LoRA" (45.5 mIoU): rank-16 LoRA (HF peft, Conv2d) on every
# bottleneck convolution of the ResNet; base weights and BN frozen.
_base_ = './gta2cs_dlv2_linear_probe.py'
model = dict(imnet_feature_dist_lambda=0.005)
segmentor = dict(
    backbone=dict(
        method='lora',
        peft_cfg=dict(
            r=16, lora_alpha=16, target_modules=r'.*layer\d\.\d+\.conv[123]')))
