# CLIP zero-shot, Digits, CLIP RN50 (paper: 54.8 avg over tasks).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/digits_rn50.py
_base_ = '../cmkd/digits_rn50.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
