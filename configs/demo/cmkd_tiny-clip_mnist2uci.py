# `make demo`: a real (not synthetic) CMKD run on CPU in a few minutes.
# MNIST -> UCI digits with a TINY RANDOMLY INITIALISED open_clip model
# (no CLIP weights can be downloaded offline): the text "teacher" is random,
# so this demonstrates the pipeline end to end, not CLIP's zero-shot power.
_base_ = [
    '../_base_/models/cmkd_clip.py',
    '../_base_/datasets/digits_mnist2uci.py',
    '../_base_/schedules/sgd_invdecay_10k.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        arch='mmvlpuda-tiny-rn',
        pretrained=None,
        image_size=64,
        norm_eval=False),
    cmkd_loss=dict(ramp_iters=300),
    data_preprocessor=dict(
        preprocessor=dict(
            mean=[127.5, 127.5, 127.5],
            std=[127.5, 127.5, 127.5],
            to_rgb=False)))
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(custom_keys={'task_head': dict(lr_mult=10.)}))
train_cfg = dict(max_iters=600, val_interval=200)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=600, max_keep_ckpts=2))
