# DACS + ImageNet feature distance on thing classes + EMA momentum 0.999
# (DAFormer configs/_base_/uda/dacs_a999_fdthings.py).
_base_ = ['./dacs.py']
model = dict(
    ema_momentum=0.999,
    imnet_feature_dist_lambda=0.005,
    imnet_feature_dist_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
    imnet_feature_dist_scale_min_ratio=0.75)
