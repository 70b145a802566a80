# Source-only baseline: the same EfficientNet-Lite0 fine-tuned on labeled
# source digits only (no teacher, no transfer loss).
_base_ = './digits_efflite0_cmkd.py'
model = dict(text_head=None, cmkd_loss=None)
custom_hooks = []
