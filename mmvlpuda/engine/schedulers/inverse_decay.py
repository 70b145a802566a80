from typing import Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from torch.optim import Optimizer

from mmvlpuda.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class InverseDecayParamScheduler(_ParamScheduler):
    r"""Inverse decay of a parameter, stepped per iteration (DANN/CDAN style,
    used by the official CMKD code).

    .. math:: v_t = v_0 \, (1 + \gamma t)^{-p}

    with ``t`` counted from ``begin``; every param group keeps its own
    ``v_0``, so a head ``lr_mult`` is preserved. Chainable with warm-ups.

    Args:
        optimizer (Optimizer | BaseOptimWrapper): wrapped optimizer.
        param_name (str): parameter to schedule, e.g. ``'lr'``.
        gamma (float): γ. Defaults to 3e-4.
        power (float): p. Defaults to 0.75.
        begin (int): first step. Defaults to 0.
        end (int): last step (exclusive). Defaults to INF.
        last_step (int): for resuming without state dict. Defaults to -1.
        by_epoch (bool): step per epoch instead of per iteration.
            Defaults to False.
        verbose (bool): Defaults to False.
    """

    def __init__(self,
                 optimizer: Union[Optimizer, BaseOptimWrapper],
                 param_name: str,
                 gamma: float = 3e-4,
                 power: float = 0.75,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False):
        if gamma < 0 or power < 0:
            raise ValueError(f'InverseDecay needs gamma >= 0 and power >= 0, '
                             f'got gamma={gamma}, power={power}')
        self.gamma = gamma
        self.power = power
        super().__init__(
            optimizer,
            param_name=param_name,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    def _factor(self, t: int) -> float:
        return (1. + self.gamma * t)**(-self.power)

    def _get_value(self):
        # mmengine counts ``last_step`` only inside [begin, end)
        t = self.last_step
        if t <= 0:
            return [g[self.param_name] for g in self.optimizer.param_groups]
        ratio = self._factor(t) / self._factor(t - 1)
        return [
            g[self.param_name] * ratio for g in self.optimizer.param_groups
        ]

    def _get_closed_form_value(self):
        t = max(self.last_step, 0)
        return [v * self._factor(t) for v in self.base_values]


@PARAM_SCHEDULERS.register_module()
class InverseDecayLR(LRSchedulerMixin, InverseDecayParamScheduler):
    r"""Learning-rate form of :class:`InverseDecayParamScheduler`:
    :math:`lr_t = lr_0 (1 + \gamma t)^{-p}` per iteration.

    Example:
        >>> param_scheduler = dict(type='InverseDecayLR', gamma=3e-4,
        ...                        power=0.75, by_epoch=False)
    """
