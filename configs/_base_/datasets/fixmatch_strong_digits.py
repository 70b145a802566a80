# FixMatch strong target view for Digits: as fixmatch_strong.py (warp to
# 256, centre 224 crop, ...), applied to the decoded digit `img` of
# TorchvisionDigitsDataset, so without the file-loading step.
_base_ = ['./fixmatch_strong.py']
target_strong_pipeline = [
    t for t in _base_.target_strong_pipeline  # noqa: F821
    if t['type'] != 'LoadImageFromFile'
]
