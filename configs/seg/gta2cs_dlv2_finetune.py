# GTA -> Cityscapes, DeepLab-V2 R101, DACS + all DAFormer strategies (RCS,
# ImageNet feature distance, EMA 0.999, pseudo-label crop), every parameter
# fine-tuned. Paper App. J, Table VII "FT": 56.0 mIoU.
_base_ = [
    './_base_/models/deeplabv2red_r101v1c.py',
    './_base_/uda/dacs_a999_fdthings.py',
    './_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    './_base_/schedules/adamw_poly10warm_40k.py',
    './_base_/seg_runtime.py',
]
# pseudo-label crop of Cityscapes targets (DAFormer's GTA->Cityscapes
# configs: rows without a valid pseudo-label, ego car and top)
model = dict(pseudo_weight_ignore_top=15, pseudo_weight_ignore_bottom=120)
