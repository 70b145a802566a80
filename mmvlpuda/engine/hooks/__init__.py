from .apply_patch_hook import ApplyPatchHook
from .export_patch_hook import ExportPatchHook
from .metric_summary_hook import MetricSummaryHook
from .non_finite_loss_hook import (NonFiniteError, NonFiniteLossError,
                                   NonFiniteLossHook, NonFiniteWeightError)
from .partial_set_hook import PartialSetHook
from .peft_hook import PEFTHook
from .prototype_fit_hook import PrototypeFitHook
from .rst_hook import RSTHook

__all__ = [
    'RSTHook', 'PEFTHook', 'PrototypeFitHook', 'PartialSetHook',
    'NonFiniteLossHook', 'NonFiniteError', 'NonFiniteLossError',
    'NonFiniteWeightError', 'MetricSummaryHook', 'ApplyPatchHook',
    'ExportPatchHook'
]
