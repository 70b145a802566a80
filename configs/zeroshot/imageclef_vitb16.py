# CLIP zero-shot, ImageCLEF-DA, CLIP ViT-B/16 (paper: 90.1 avg over tasks).
# Train-free: evaluate the model as built (no checkpoint):
#   python tools/test.py configs/zeroshot/imageclef_vitb16.py
_base_ = '../cmkd/imageclef_vitb16.py'

model = dict(predict_head='text')
train_dataloader = train_cfg = optim_wrapper = param_scheduler = None
