# mmseg's runtime (default_scope='mmseg', SegLocalVisualizer, log level)
# + mmvlpuda + the default hooks of mmseg's iteration-based schedules.
# mmvlpuda modules are reached with the `mmvlpuda.` prefix.
_base_ = ['mmseg::_base_/default_runtime.py']
# mmvlpuda's modules (registration; with mmcv-lite, mmvlpuda.models
# installs the mmcv._ext stand-in before mmseg/mmdet are imported)
custom_imports = dict(
    imports=[
        'mmvlpuda.models', 'mmvlpuda.datasets', 'mmvlpuda.engine',
        'mmvlpuda.evaluation'
    ],
    allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False)  # tools/train.py: gloo without CUDA
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # last (final weights) + best target mIoU (reported by DAFormer-style
    # papers); the log ends with both numbers
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=4000,
        max_keep_ckpts=2,
        save_last=True,  # >= 2: see docs/faq.md
        save_best='mIoU',
        rule='greater'),
    metric_summary=dict(type='mmvlpuda.MetricSummaryHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # stop at the first NaN/Inf loss term (docs/faq.md); off: interval=0
    check_loss=dict(type='mmvlpuda.NonFiniteLossHook', interval=1))
log_processor = dict(by_epoch=False)
