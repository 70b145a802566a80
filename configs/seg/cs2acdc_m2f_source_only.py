# Cityscapes -> ACDC, Mask2Former R50 source-only (paper App. L, Table IX:
# 43.6 mIoU on ACDC). Evaluate mmseg's Cityscapes checkpoint on ACDC:
#   python tools/test.py configs/seg/cs2acdc_m2f_source_only.py <ckpt>
# or fine-tune it on Cityscapes (plain mmseg training, labeled source only).
_base_ = [
    './_base_/models/mask2former_r50_cityscapes.py',
    './_base_/uda/source_only.py',
    './_base_/datasets/uda_cityscapes_to_acdc_512x512.py',
    './_base_/schedules/mask2former_adamw_poly_40k.py',
    './_base_/seg_runtime.py',
]
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset='${source_train}')
