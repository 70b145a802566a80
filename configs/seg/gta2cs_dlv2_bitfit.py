# Table VII "BitFit" (28.3 mIoU): backbone biases (BN) + the head train.
_base_ = './gta2cs_dlv2_linear_probe.py'
model = dict(imnet_feature_dist_lambda=0.005)
segmentor = dict(backbone=dict(method='bitfit'))
