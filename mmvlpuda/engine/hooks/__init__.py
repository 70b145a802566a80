from .rst_hook import RSTHook

__all__ = ['RSTHook']
from .peft_hook import PEFTHook  # noqa: E402

__all__ += ['PEFTHook']
from .prototype_fit_hook import PrototypeFitHook  # noqa: E402

__all__ += ['PrototypeFitHook']
from .partial_set_hook import PartialSetHook  # noqa: E402

__all__ += ['PartialSetHook']
from .non_finite_loss_hook import (NonFiniteError,  # noqa: E402
                                   NonFiniteLossError, NonFiniteLossHook,
                                   NonFiniteWeightError)

__all__ += [
    'NonFiniteLossHook', 'NonFiniteError', 'NonFiniteLossError',
    'NonFiniteWeightError'
]
from .metric_summary_hook import MetricSummaryHook  # noqa: E402

__all__ += ['MetricSummaryHook']
