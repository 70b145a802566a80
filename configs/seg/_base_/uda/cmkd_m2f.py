# CMKD-seg (paper App. L) on DACS self-training for Mask2Former: EMA teacher
# (momentum 0.99) and the frozen pretrained decoder as the two teachers,
# 0.1 x source loss, lambda1 = 0.25 with the classification ramp (T = 1e4,
# VLP-UDA main.py `max_iter = 10000`), alpha with KL(F || F-check) as App. L
# writes it (variant='paper'). Wraps the top-level `segmentor` of a model
# base (../models/) into `model`.
model = dict(
    type='mmvlpuda.CMKDSegmentor',
    ema_momentum=0.99,
    cls_weight=0.1,
    lambda1=0.25,
    ramp_iters=10000,
    variant='paper',
    model='${segmentor}')
