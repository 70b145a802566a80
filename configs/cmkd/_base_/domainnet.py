# DomainNet (345 classes; upstream configs/domain_net.yaml). Whole domain
# folders as the official code (data_layout='folders'); the standard
# protocol with the official split files is data_layout='list', the
# configs/*/domainnet_split_*.py configs. 40k iterations, evaluation every
# 1000, batch 32 + 32, lambda1 0.025, lambda2 0.1, lambda3 0.0025, prompt
# "a photo of a {}". FixMatch (paper App. B): lambda_fm 0.1, tau_fm 0.95.
# The CMKD ramp still saturates at 10k iterations (official code).
_base_ = ['./clip_cmkd.py', '../../_base_/datasets/domainnet.py']

model = dict(cmkd_loss=dict(lambda1=0.025, lambda3=0.0025))
train_cfg = dict(max_iters=40000, val_interval=1000)
fixmatch_loss = dict(weight=0.1)
