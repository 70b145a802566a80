# DACS self-training (DAFormer configs/_base_/uda/dacs.py): EMA teacher
# (momentum 0.99), pseudo-labels weighted by the fraction of pixels with
# confidence >= 0.968, ClassMix + colour jitter + blur. Wraps the top-level
# `segmentor` of a model base (../models/) into `model`.
model = dict(
    type='mmvlpuda.DACS',
    ema_momentum=0.99,
    pseudo_threshold=0.968,
    model='${segmentor}')
