# DAFormer's DeepLab-V2 ('dlv2red': ASPP rates 6 and 12) on ResNet-101-V1c
# (ImageNet), DAFormer configs/_base_/models/deeplabv2red_r50-d8.py with the
# R101-V1c backbone. Exports the mmseg segmentor as the top-level key
# `segmentor`; a UDA base (../uda/) wraps it into `model`.
num_classes = 19
norm_cfg = dict(type='BN', requires_grad=True)
resnet = dict(
    _scope_='mmseg',
    type='ResNetV1c',
    depth=101,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    dilations=(1, 1, 2, 4),
    strides=(1, 2, 1, 1),
    norm_cfg=norm_cfg,
    norm_eval=False,
    style='pytorch',
    contract_dilation=True)
segmentor = dict(
    _scope_='mmseg',
    type='EncoderDecoder',
    pretrained='open-mmlab://resnet101_v1c',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size='${crop_size}'),
    backbone='${resnet}',
    decode_head=dict(
        type='mmvlpuda.DLV2Head',
        in_channels=2048,
        in_index=3,
        dilations=(6, 12),
        num_classes='${num_classes}',
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
