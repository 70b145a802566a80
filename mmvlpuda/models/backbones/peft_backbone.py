"""Backward-compatible alias: :class:`PEFTBackbone` and its adapters moved to
:mod:`mmvlpuda.models.peft`; import them from there."""
from mmvlpuda.models.peft import (METHODS, ExactLoraMultiheadAttention,
                                  PEFTBackbone, SVDMultiheadAttention)
from mmvlpuda.models.peft.config import ADAPTER

__all__ = [
    'PEFTBackbone', 'METHODS', 'ADAPTER', 'ExactLoraMultiheadAttention',
    'SVDMultiheadAttention'
]
