# CLIP zero-shot, Office-31, CLIP RN50 (paper: 71.6 avg over tasks).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/office31_rn50.py
_base_ = '../cmkd/office31_rn50.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
