# CLIP zero-shot, Office-Home, CLIP RN50 (paper: 72.0 avg over tasks).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/officehome_rn50.py
_base_ = '../cmkd/officehome_rn50.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
