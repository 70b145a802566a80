# CLIP zero-shot, DomainNet, CLIP ViT-B/16 (paper: 6.6 avg over tasks).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/domainnet_vitb16.py
_base_ = '../cmkd/domainnet_vitb16.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
