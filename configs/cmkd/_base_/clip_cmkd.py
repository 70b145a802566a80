# Root of the classification grid (configs/cmkd, source_only, zeroshot, rst;
# see configs/cmkd/README.md): CLIP student + frozen text teacher with the
# official CMKD loss (lambda 0.25/0.1/0.025, ramp 10k), the official SGD
# inverse-decay schedule (10k iterations) and the default runtime.
#
# A grid config combines three bases with disjoint keys (mmengine refuses a
# key defined by two bases of one file; a child may override anything):
#   ./_base_/<benchmark>.py  data, classes, prompt, iterations, lambdas,
#                            FixMatch lambda_fm/tau_fm (this chain)
#   ./_base_/<family>.py     lr, head_lr_mult, rst_tau (resnet, vit,
#                            visda_resnet, visda_vit)
#   ./_base_/<arch>.py       arch (rn50, rn101, vitb16)
_base_ = [
    '../../_base_/models/cmkd_clip.py',
    '../../_base_/schedules/sgd_invdecay_10k.py',
    '../../_base_/default_runtime.py',
]

# FixMatch (paper App. B) of the *_fixmatch configs, which set
# model.fixmatch_loss='${fixmatch_loss}': lambda_fm (weight) / tau_fm
# (threshold, pseudo-label kept when max p >= tau_fm). Paper: 0.5 / 0.95
# unless the benchmark file says otherwise.
fixmatch_loss = dict(type='FixMatchLoss', weight=0.5, threshold=0.95)
