from typing import Dict, Optional

from mmengine.hooks import Hook

from mmvlpuda.registry import HOOKS


@HOOKS.register_module()
class MetricSummaryHook(Hook):
    """Log, when training ends, the last and the best target evaluation.

    The official protocol reports the best target evaluation over the run
    (``main.py`` of Wenlve-Zhou/VLP-UDA keeps ``best_acc`` of the per-epoch
    tests), so the paper's numbers are "best" numbers; the last evaluation
    is what the final weights score. The configs keep both checkpoints
    (``CheckpointHook(save_last=True, save_best=<metric>)``): this hook says
    in the log which number belongs to which file.

    Args:
        metric (str, optional): metric key to report. None reports the
            checkpoint hook's ``save_best`` key, or the first metric of the
            last evaluation. Defaults to None.

    Example:
        >>> default_hooks = dict(
        ...     metric_summary=dict(type='mmvlpuda.MetricSummaryHook'))
    """

    priority = 'VERY_LOW'

    def __init__(self, metric: Optional[str] = None):
        self.metric = metric
        self.last: Optional[Dict[str, float]] = None
        self.last_iter = -1

    def after_val_epoch(self, runner, metrics=None) -> None:
        if metrics:
            self.last, self.last_iter = dict(metrics), runner.iter

    def _key(self, runner) -> str:
        if self.metric is not None:
            return self.metric
        for hook in runner.hooks:
            keys = getattr(hook, 'key_indicators', None)
            if keys and keys[0] != 'auto':
                return keys[0]
        return next(iter(self.last))

    def after_train(self, runner) -> None:
        if not self.last:
            runner.logger.info('Target metric summary: no evaluation ran')
            return
        key = self._key(runner)
        if key not in self.last:
            raise KeyError(f'MetricSummaryHook: metric `{key}` is not among '
                           f'the evaluated metrics {sorted(self.last)}')
        lines = [
            f'Target {key}: last evaluation (iter {self.last_iter}, the '
            f'final weights / last checkpoint) = {self.last[key]:.4f}'
        ]
        hub = runner.message_hub
        if 'best_score' in hub.runtime_info:
            lines.append(
                f'Target {key}: best evaluation over the run (what the '
                f'paper and the official code report) = '
                f'{hub.get_info("best_score"):.4f}, checkpoint '
                f'{hub.get_info("best_ckpt")}')
        for line in lines:
            runner.logger.info(line)
