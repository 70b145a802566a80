"""Metrics. Classification uses mmpretrain's ``Accuracy``
(``type='mmpretrain.Accuracy'``); benchmark-specific metrics live here
(``MeanClassAccuracy``: VisDA-2017 mean per-class accuracy)."""
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all

__all__ = list(_metrics_all)
