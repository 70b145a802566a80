# CMKD with the ImageNet-prototype teacher (paper App. E: lambda1 0.25,
# lambda2 = lambda3 = 0) on real digits: ImageNet EfficientNet-Lite0
# (weights bundled with a pip package), MNIST -> UCI (bundled, no download).
# Both directions: --cfg-options source_domain=uci target_domain=mnist
#
# lr, BN mode and image size were chosen on the SOURCE validation split
# (held-out source images; benchmarks/results/digits_select.md, written by
# `python benchmarks/digits_evidence.py select`): lr 1e-3 with frozen BN
# statistics at 48 px, 150 iterations (the selection's run length; it fits
# `make demo`'s CPU budget and the 30-run evidence of benchmarks/).
_base_ = [
    '../_base_/models/cmkd_efflite0_prototype.py',
    '../_base_/datasets/digits_mnist2uci.py',
    '../_base_/schedules/sgd_invdecay_10k.py',
    '../_base_/default_runtime.py',
]
num_classes = 10
image_size = 48
model = dict(
    backbone=dict(norm_eval=True),
    cmkd_loss=dict(ramp_iters=150))  # the ramp spans the short run
optim_wrapper = dict(
    optimizer=dict(lr=0.001),
    paramwise_cfg=dict(custom_keys={'task_head': dict(lr_mult=10.)}))
train_cfg = dict(max_iters=150, val_interval=150)
default_hooks = dict(
    logger=dict(interval=25), checkpoint=dict(interval=150, max_keep_ckpts=2))
