"""Keep the pretrained weights w0 of RST inside ordinary checkpoints, in
O(nnz): after the RST projection a trained tensor equals w0 everywhere
except at its sparse set, so ``w0 = w`` with those positions overwritten by
the stored w0 values. Used by :class:`RSTHook` (resume) and
``tools/export_patch.py``."""
from typing import Dict, Mapping, Sequence

import torch

RST_KEY = 'rst'


def encode_w0(state: Mapping[str, torch.Tensor],
              w0: Mapping[str, torch.Tensor], dense: Sequence[str] = (),
              **info) -> dict:
    """The ``checkpoint['rst']`` entry: w0 values where ``w != w0``."""
    pos, val = {}, {}
    for name, base in w0.items():
        cur = state[name].detach().reshape(-1)
        base = base.detach().reshape(-1)
        idx = torch.nonzero(cur != base).view(-1)
        pos[name] = idx.cpu()
        val[name] = base[idx].cpu().clone()
    return dict(version=1, names=list(w0), dense=list(dense), w0_pos=pos,
                w0_val=val, **info)


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
