# CLIP zero-shot, Office-31, CLIP RN101 (no paper number).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/office31_rn101.py
_base_ = '../cmkd/office31_rn101.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
