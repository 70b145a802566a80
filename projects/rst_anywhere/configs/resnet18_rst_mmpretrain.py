# mmpretrain's stock ResNet-18 ImageNet config, fine-tuned on a folder tree,
# + Residual Sparse Training. Only the last block is about RST; the rest
# points the stock config at pretrained weights and at your data.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']

# data: a folder tree `data_root/{train,val}/<class>/*.png` (CustomDataset;
# classes are the sub-folder names, sorted) instead of ImageNet
data_root = 'data/rst_toy_cls'
num_classes = 3
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))
test_evaluator = val_evaluator
data_preprocessor = dict(num_classes=num_classes)

# model: RST fine-tunes *pretrained* weights (w0 is the model when training
# starts): the ImageNet ResNet-18 backbone of mmpretrain's model zoo, a new
# head for `num_classes`
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet18_8xb32_in1k_20210831-fbbb1da6.pth',
            prefix='backbone')),
    head=dict(num_classes=num_classes, topk=(1, )))

# Residual Sparse Training: the two lines to add to any mm config ------------
custom_imports = dict(imports=['mmvlpuda'], allow_failed_imports=False)
custom_hooks = [
    dict(type='mmvlpuda.RSTHook', tau=1e-4, include=('backbone', ))
]
