# CLIP zero-shot, Office-Home, CLIP ViT-B/16 (paper: 82.4 avg over tasks).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/officehome_vitb16.py
_base_ = '../cmkd/officehome_vitb16.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
