"""PEFT baselines of the paper's Table VII, laid out as HF peft's
``tuners/<method>/``: ``config`` (checked peft configs), ``layer``
(adapter layers), ``model`` (the AdaLoRA tuner), ``adalora`` (rank
allocation and its state), ``call_check`` (adapters that never run) and
``backbone`` (the registered :class:`PEFTBackbone`)."""
from .adalora import AdaLoraAllocation
from .backbone import METHODS, PEFTBackbone
from .layer import ExactLoraMultiheadAttention, SVDMultiheadAttention
from .model import AdaLoraMHAModel

__all__ = [
    'PEFTBackbone', 'METHODS', 'AdaLoraAllocation', 'AdaLoraMHAModel',
    'ExactLoraMultiheadAttention', 'SVDMultiheadAttention'
]
