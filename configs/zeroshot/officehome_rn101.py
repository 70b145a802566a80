# CLIP zero-shot, Office-Home, CLIP RN101 (no paper number).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/officehome_rn101.py
_base_ = '../cmkd/officehome_rn101.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
