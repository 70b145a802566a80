# mmseg's stock FCN (ResNetV1c-18-D8) Cityscapes config, trained on a folder
# of images + label PNGs, + Residual Sparse Training with a linearly growing
# tau. Only the last block is about RST; the rest points the stock config at
# your data. The stock config already starts from ImageNet weights
# (`pretrained='open-mmlab://resnet18_v1c'`).
_base_ = ['mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py']

# data: BaseSegDataset over `data_root/img_dir/{train,val}/*.png` +
# `data_root/ann_dir/{train,val}/*.png` (label PNGs hold class ids,
# 255 = ignore) instead of Cityscapes
data_root = 'data/rst_toy_seg'
classes = ('background', 'square', 'disc')
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=dict(classes=classes),
    img_suffix='.png',
    seg_map_suffix='.png')
train_dataloader = dict(
    dataset=dict(
        **dataset,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train')))
val_dataloader = dict(
    dataset=dict(
        **dataset,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
test_dataloader = val_dataloader
model = dict(
    decode_head=dict(num_classes=len(classes)),
    auxiliary_head=dict(num_classes=len(classes)))

# Residual Sparse Training: the two lines to add to any mm config ------------
# tau grows linearly from `tau` to `tau_end` over max_iters
# (with mmcv-lite, 'mmvlpuda.models' installs the mmcv._ext stand-in that
# mmseg needs; with full mmcv imports=['mmvlpuda'] is enough)
custom_imports = dict(imports=['mmvlpuda.models'], allow_failed_imports=False)
custom_hooks = [
    dict(
        type='mmvlpuda.RSTHook',
        tau=1e-4,
        tau_end=1e-3,
        include=('backbone', 'decode_head', 'auxiliary_head'))
]
