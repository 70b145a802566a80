# CMKD with the ImageNet-prototype teacher (paper App. E: lambda1 0.25,
# lambda2 = lambda3 = 0) on real digits: ImageNet EfficientNet-Lite0
# (weights bundled with a pip package), MNIST -> UCI (bundled, no download).
# Both directions: --cfg-options source_domain=uci target_domain=mnist
_base_ = [
    '../_base_/models/cmkd_efflite0_prototype.py',
    '../_base_/datasets/digits_mnist2uci.py',
    '../_base_/schedules/sgd_invdecay_10k.py',
    '../_base_/default_runtime.py',
]
num_classes = 10
image_size = 32  # CPU budget of `make demo` (the calibration used 64 px)
model = dict(cmkd_loss=dict(ramp_iters=300))  # the ramp spans the short run
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(custom_keys={'task_head': dict(lr_mult=10.)}))
train_cfg = dict(max_iters=300, val_interval=100)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=300, max_keep_ckpts=1))
