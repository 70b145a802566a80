# Mask2Former's optimizer as mmseg's Cityscapes config
# (mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py):
# AdamW lr 1e-4, backbone lr x0.1, no decay on embeddings and norms, clip
# 0.01, PolyLR power 0.9 from iteration 0, no warm-up; 40k iterations
# (Cityscapes -> ACDC, configs/seg/README.md), evaluation every 4k.
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'query_embed': embed_multi,
            'query_feat': embed_multi,
            'level_embed': embed_multi,
        },
        norm_decay_mult=0.0))
max_iters = 40000
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0,
        power=0.9,
        begin=0,
        end='${max_iters}',
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters='${max_iters}', val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
