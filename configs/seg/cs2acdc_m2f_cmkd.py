# Cityscapes -> ACDC, Mask2Former R50 + CMKD-seg (paper App. L, Table IX:
# 51.0 mIoU, DSP 44.0M): EMA teacher (0.99) and the frozen pretrained
# decoder as the two teachers, 0.1 x source loss, lambda1 = 0.25 ramp
# (App. L uses the main text's ramp: T = 1e4 as the classification code,
# VLP-UDA main.py `max_iter = 10000`, so it saturates at 10k of 40k iters),
# lr 1e-5, crop 512, DACS augmentation, RCS. Start from the Cityscapes
# checkpoint: --cfg-options load_from=<mask2former cityscapes .pth>.
_base_ = [
    './_base_/models/mask2former_r50_cityscapes.py',
    './_base_/uda/cmkd_m2f.py',
    './_base_/datasets/uda_cityscapes_to_acdc_512x512.py',
    './_base_/schedules/mask2former_adamw_poly_40k.py',
    './_base_/seg_runtime.py',
]
optim_wrapper = dict(optimizer=dict(lr=1e-5))
