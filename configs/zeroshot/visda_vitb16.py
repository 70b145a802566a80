# CLIP zero-shot, VisDA-2017, CLIP ViT-B/16 (paper: 88.0 mean class accuracy).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/visda_vitb16.py
_base_ = '../cmkd/visda_vitb16.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
