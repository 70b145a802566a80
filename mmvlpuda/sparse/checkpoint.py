"""Keep the pretrained weights w0 of RST inside ordinary checkpoints, in
O(nnz): after the RST projection a trained tensor equals w0 everywhere
except at its sparse set, so ``w0 = w`` with those positions overwritten by
the stored w0 values. Used by :class:`RSTHook` (resume) and
:func:`patch_from_checkpoint` (``tools/export_patch.py``)."""
from typing import Dict, Mapping, Optional, Sequence

import torch

from .patch import Patch, make_patch

RST_KEY = 'rst'


def encode_w0(state: Mapping[str, torch.Tensor],
              w0: Mapping[str, torch.Tensor],
              dense: Sequence[str] = (),
              **info) -> dict:
    """The ``checkpoint['rst']`` entry: w0 values where ``w != w0``."""
    pos, val = {}, {}
    for name, base in w0.items():
        cur = state[name].detach().reshape(-1)
        base = base.detach().reshape(-1)
        idx = torch.nonzero(cur != base).view(-1)
        pos[name] = idx.cpu()
        val[name] = base[idx].cpu().clone()
    return dict(
        version=1,
        names=list(w0),
        dense=list(dense),
        w0_pos=pos,
        w0_val=val,
        **info)


def decode_w0(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """Rebuild w0 of every RST-selected tensor from a checkpoint."""
    if RST_KEY not in checkpoint:
        raise KeyError('checkpoint has no `rst` entry (not written by '
                       'RSTHook); give the base weights explicitly')
    rst, state = checkpoint[RST_KEY], checkpoint['state_dict']
    w0 = {}
    for name in rst['names']:
        if name not in state:
            raise KeyError(f'checkpoint `rst` names `{name}` but its '
                           'state_dict does not have it')
        t = state[name].detach().clone()
        t.view(-1)[rst['w0_pos'][name].to(t.device)] = rst['w0_val'][name].to(
            t.device, t.dtype)
        w0[name] = t
    return w0


def patch_from_checkpoint(checkpoint: dict,
                          base: Optional[Mapping[str, torch.Tensor]] = None,
                          dense: Optional[Sequence[str]] = None,
                          value_dtype: str = 'float32',
                          **meta) -> Patch:
    """The deployable patch of a trained mmengine checkpoint.

    The same recipe as ``RSTHook.make_patch`` during training: the tensors
    RSTHook selected are stored sparsely against w0, the dense trainable
    tensors (and, for a base taken from the checkpoint, the floating-point
    buffers RSTHook recorded) whole.

    Args:
        checkpoint (dict): the loaded checkpoint (``state_dict`` + the
            ``rst`` entry RSTHook writes; any fine-tuned checkpoint works
            with an explicit ``base``).
        base (Mapping, optional): the pretrained base weights. None: the w0
            recorded in the checkpoint. Defaults to None.
        dense (Sequence[str], optional): name prefixes stored whole. None:
            the dense trainable tensors RSTHook recorded, else
            ``('task_head',)``. Defaults to None.
        value_dtype (str): residual precision (``'float32'`` is bit-exact).
        **meta: extra patch metadata (``arch``, ...).

    Raises:
        KeyError: no base given and the checkpoint has no RST w0.
        PatchError: a NaN/Inf tensor (named); nothing is made.

    Example:
        >>> ckpt = torch.load('work_dirs/x/iter_10000.pth', weights_only=False)
        >>> patch_from_checkpoint(ckpt, arch='RN50').save('x.patch')
    """
    rst = checkpoint.get(RST_KEY)
    if base is None:
        base = decode_w0(checkpoint)
    if dense is None:
        dense = rst['dense'] if rst is not None else ('task_head', )
    if rst is not None:
        meta = dict(dict(tau=rst.get('tau'), mode=rst.get('mode')), **meta)
    return make_patch(
        checkpoint['state_dict'],
        base,
        names=rst['names'] if rst is not None else None,
        dense=dense,
        value_dtype=value_dtype,
        **meta)
