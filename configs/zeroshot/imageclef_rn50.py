# CLIP zero-shot, ImageCLEF-DA, CLIP RN50 (paper: 90.9 avg over tasks).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/imageclef_rn50.py
_base_ = '../cmkd/imageclef_rn50.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
