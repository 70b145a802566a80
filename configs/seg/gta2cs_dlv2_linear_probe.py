# Table VII "LP" (18.4 mIoU): frozen ImageNet backbone, only the DeepLab-V2
# head trains (PEFTBackbone runs the backbone in eval mode, no grad).
_base_ = './gta2cs_dlv2_finetune.py'
model = dict(imnet_feature_dist_lambda=0.)  # the backbone cannot move
segmentor = dict(
    backbone=dict(
        _delete_=True,
        type='mmvlpuda.PEFTBackbone',
        method='linear_probe',
        backbone='${resnet}'))
custom_hooks = [dict(type='mmvlpuda.PEFTHook')]
