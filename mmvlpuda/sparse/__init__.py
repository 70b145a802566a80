"""Sparse residual patches (RST deployment): see :mod:`.patch`."""
from .patch import (FORMAT, VERSION, Patch, PatchError, PatchStore,
                    SparseEntry, apply_patch, make_patch, remove_patch,
                    tensors_checksum)

__all__ = [
    'Patch', 'PatchError', 'PatchStore', 'SparseEntry', 'make_patch',
    'apply_patch', 'remove_patch', 'tensors_checksum', 'FORMAT', 'VERSION'
]
