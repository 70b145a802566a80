r"""The RST projection step, paper Eq. (17) (Alg. 1, line "project").

.. math:: w \leftarrow \begin{cases} w_0 & |w - w_0| \le \tau \\
                                     w & \text{otherwise} \end{cases}

applied in place. On CPU float32/float64 tensors a fused numba kernel makes
one pass (read w, w0; write w only where it snaps back) and counts the kept
entries; elsewhere (CUDA, half precision) ``torch.where`` with ``out=w`` is
used.
"""
from typing import Optional

import numpy as np
import torch

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency
    njit = None

if njit is not None:

    @njit(parallel=True, cache=True, nogil=True)
    def _project_kernel(w, w0, tau):
        kept = 0
        for i in prange(w.size):
            if abs(w[i] - w0[i]) <= tau:
                w[i] = w0[i]
            else:
                kept += 1
        return kept

    @njit(parallel=True, cache=True, nogil=True)
    def _project_reset_kernel(w, w0, tau, buf):
        kept = 0
        for i in prange(w.size):
            if abs(w[i] - w0[i]) <= tau:
                w[i] = w0[i]
                buf[i] = 0
            else:
                kept += 1
        return kept

    @njit(parallel=True, cache=True, nogil=True)
    def _abs_diff_kernel(w, w0, out):
        for i in prange(w.size):
            out[i] = abs(w[i] - w0[i])


def _fast_path(w: torch.Tensor) -> bool:
    return (njit is not None and w.device.type == 'cpu'
            and w.dtype in (torch.float32, torch.float64)
            and w.is_contiguous())


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().view(-1).numpy()


@torch.no_grad()
def project_(w: torch.Tensor,
             w0: torch.Tensor,
             tau: float,
             momentum: Optional[torch.Tensor] = None) -> int:
    """Snap ``w`` back to ``w0`` where ``|w - w0| <= tau`` (in place).

    Args:
        w (Tensor): trained tensor (modified in place).
        w0 (Tensor): pretrained tensor, same shape/dtype/device.
        tau (float): threshold τ (``inf`` resets everything).
        momentum (Tensor, optional): optimizer buffer of ``w``; zeroed where
            ``w`` snaps back.

    Returns:
        int: number of entries that keep their trained value.
    """
    if _fast_path(w) and w0.is_contiguous() and (
            momentum is None or momentum.is_contiguous()):
        # tau beyond the float32 range (incl. inf) must stay inf: clamping it
        # to float32 max would keep entries whose |w - w0| is inf
        tau_np = np.float64(tau) if w.dtype == torch.float64 else (
            np.float32(np.inf) if tau > np.finfo(np.float32).max else
            np.float32(tau))
        if momentum is None:
            return int(_project_kernel(_np(w), _np(w0), tau_np))
        return int(
            _project_reset_kernel(_np(w), _np(w0), tau_np, _np(momentum)))
    snap = (w - w0).abs_() <= tau
    torch.where(snap, w0, w, out=w)
    if momentum is not None:
        momentum.masked_fill_(snap, 0)
    return int(snap.numel() - snap.sum().item())


@torch.no_grad()
def abs_diff(w: torch.Tensor, w0: torch.Tensor,
             out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``|w - w0|`` flattened, written into ``out`` when given."""
    if out is None:
        out = torch.empty(w.numel(), dtype=w.dtype, device=w.device)
    if _fast_path(w) and out.dtype == w.dtype and w0.is_contiguous():
        _abs_diff_kernel(_np(w), _np(w0), out.numpy())
    else:
        torch.sub(w.reshape(-1), w0.reshape(-1), out=out).abs_()
    return out
