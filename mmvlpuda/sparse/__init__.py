"""Sparse residual patches (RST deployment): see :mod:`.patch`.

Depends on torch, numpy, numba and safetensors only: a serving process can
import it without mmengine, mmseg, peft or open_clip.
"""
from .checkpoint import patch_from_checkpoint
from .dsp import DSP_KEY, count_dsp, model_dsp
from .patch import (FORMAT, VERSION, Patch, PatchError, PatchStore,
                    SparseEntry, apply_patch, make_patch, remove_patch,
                    tensors_checksum)

__all__ = [
    'Patch', 'PatchError', 'PatchStore', 'SparseEntry', 'make_patch',
    'apply_patch', 'remove_patch', 'tensors_checksum', 'FORMAT', 'VERSION',
    'patch_from_checkpoint', 'DSP_KEY', 'count_dsp', 'model_dsp'
]
