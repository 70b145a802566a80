# CLIP zero-shot, VisDA-2017, CLIP RN50 (no paper number).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/visda_rn50.py
_base_ = '../cmkd/visda_rn50.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
