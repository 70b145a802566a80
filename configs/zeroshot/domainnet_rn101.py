# CLIP zero-shot, DomainNet, CLIP RN101 (no paper number).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/domainnet_rn101.py
_base_ = '../cmkd/domainnet_rn101.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
