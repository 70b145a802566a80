default_scope = 'mmvlpuda'
# mmvlpuda's modules (registration; with mmcv-lite, mmvlpuda.models
# installs the mmcv._ext stand-in before mmseg/mmdet are imported)
custom_imports = dict(
    imports=[
        'mmvlpuda.models', 'mmvlpuda.datasets', 'mmvlpuda.engine',
        'mmvlpuda.evaluation'
    ],
    allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # the last checkpoint (final weights) and the best target evaluation
    # (what the official protocol reports) by the evaluator's first metric
    # (accuracy/top1; VisDA accuracy/mean); the log ends with both numbers
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=500,
        max_keep_ckpts=2,
        save_last=True,
        save_best='auto',
        rule='greater'),
    metric_summary=dict(type='mmvlpuda.MetricSummaryHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # stop at the first NaN/Inf loss term, before its optimizer step and
    # before any checkpoint is saved from it (docs/faq.md); off: interval=0
    check_loss=dict(type='mmvlpuda.NonFiniteLossHook', interval=1),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches nccl to gloo when CUDA is unavailable
    dist_cfg=dict(backend='nccl'),
)

log_processor = dict(by_epoch=False, window_size=50)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=42, deterministic=False)
