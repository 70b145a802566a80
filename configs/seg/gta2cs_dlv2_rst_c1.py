# Table VII "RST config1" (53.1 mIoU, ~10% of the weights domain-specific):
# Residual Sparse Training on backbone AND decode head, tau growing
# linearly 5e-4 -> 3.5e-2 over the run.
_base_ = './gta2cs_dlv2_finetune.py'
custom_hooks = [
    dict(
        type='RSTHook',
        tau=5e-4,
        tau_end=3.5e-2,
        include=('model.backbone', 'model.decode_head'))
]
