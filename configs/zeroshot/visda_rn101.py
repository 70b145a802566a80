# CLIP zero-shot, VisDA-2017, CLIP RN101 (paper: 84.4 mean class accuracy).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/visda_rn101.py
_base_ = '../cmkd/visda_rn101.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
