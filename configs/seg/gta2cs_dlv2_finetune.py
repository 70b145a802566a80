# GTA -> Cityscapes, DeepLab-V2 R101, DACS + all DAFormer strategies (RCS,
# ImageNet feature distance, EMA 0.999), every parameter fine-tuned.
# Paper App. J, Table VII "FT": 56.0 mIoU.
_base_ = [
    './_base_/models/dacs_deeplabv2red_r101v1c.py',
    './_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    './_base_/schedules/adamw_poly10warm_40k.py',
    './_base_/seg_runtime.py',
]
