# Digits (SVHN/MNIST/USPS, 10 classes; upstream configs/digits.yaml): 20k
# iterations, evaluation every 1000, batch 64 + 64 (dataset base), lambda
# 0.25/0.1/0.025, FixMatch 0.5/0.95 (the *_fixmatch configs list
# fixmatch_strong_digits.py), prompt 'a photo of the number: "{}"'.
# The official digits config trains with AMP: add --amp on a GPU.
_base_ = ['./clip_cmkd.py', '../../_base_/datasets/digits.py']

train_cfg = dict(max_iters=20000, val_interval=1000)
