# FixMatch strong target view for VisDA-2017: as fixmatch_strong.py, but the
# official code warps to 224 (not 256) before the centre 224 crop, as its
# VisDA weak/test transforms do.
_base_ = ['./fixmatch_strong.py']
target_strong_pipeline = [
    dict(t, scale=(224, 224)) if t['type'] == 'Resize' else t
    for t in _base_.target_strong_pipeline  # noqa: F821
]
