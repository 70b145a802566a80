# VisDA-2017 (12 classes, synthetic -> real; upstream configs/visda.yaml):
# 20k iterations, evaluation every 1000 (one upstream epoch), batch 32 + 32,
# lambda 0.25/0.1/0.025, prompt "a photo of a {}", mean per-class accuracy.
# FixMatch (paper App. B): lambda_fm 2.0, tau_fm 0.80, strong view warped to
# 224 (the *_fixmatch configs list fixmatch_strong_visda.py). The VisDA
# learning rates and RST tau depend on the backbone: visda_resnet.py,
# visda_vit.py.
_base_ = ['./clip_cmkd.py', '../../_base_/datasets/visda.py']

train_cfg = dict(max_iters=20000, val_interval=1000)
fixmatch_loss = dict(weight=2.0, threshold=0.80)
