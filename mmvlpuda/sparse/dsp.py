"""Domain-specific parameters (DSP), the one count every method reports.

Paper Sec. IV-A: the parameters a domain adds on top of the shared
pretrained model. A tensor trained densely (a task head, LoRA adapters,
biases under BitFit, everything under fine-tuning) counts whole; a tensor
stored as a sparse residual (RST) counts its nonzeros. :class:`RSTHook`,
:class:`PEFTHook` and :class:`Patch` all count through :func:`count_dsp`
and log it under :data:`DSP_KEY` (``message_hub`` scalar ``val/dsp`` and
``checkpoint['meta']['dsp']``).
"""
from typing import Collection, Iterable

import torch.nn as nn

DSP_KEY = 'dsp'


def count_dsp(dense_numels: Iterable[int], residual_nnz: int = 0) -> int:
    """DSP = Σ elements of the densely stored tensors + residual nonzeros.

    Args:
        dense_numels (Iterable[int]): element counts of the tensors a
            domain stores whole.
        residual_nnz (int): nonzeros of the sparse residuals. Defaults to 0.
    """
    return int(residual_nnz) + sum(int(n) for n in dense_numels)


def model_dsp(model: nn.Module, nnz: int = 0, sparse: Collection = ()) -> int:
    """DSP of a model in training: every trainable parameter is dense except
    the tensors named in ``sparse``, whose residuals have ``nnz`` nonzeros.

    Example:
        >>> model_dsp(model)  # PEFT: adapters + head
        >>> model_dsp(model, hook.nnz, sparse=selected_names)  # RST
    """
    return count_dsp((p.numel() for n, p in model.named_parameters()
                      if p.requires_grad and n not in sparse), nnz)
