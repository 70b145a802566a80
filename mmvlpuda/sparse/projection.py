r"""The RST projection step, paper Eq. (17) (Alg. 1, line "project").

.. math:: w \leftarrow \begin{cases} w_0 & |w - w_0| \le \tau \\
                                     w & \text{otherwise} \end{cases}

applied in place. On CPU float32/float64 tensors a fused numba kernel makes
one pass (read w, w0; write w only where it snaps back) and counts the kept
entries; elsewhere (CUDA, half precision) ``torch.where`` with ``out=w`` is
used.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

try:
    import numba
    from numba import njit, parallel_chunksize, prange
    from numba.typed import List
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


# ---------------------------------------------------------------------------
# one fused pass over many tensors, and the budget threshold
# ---------------------------------------------------------------------------
_CHUNK = 1 << 16  # elements per work item of the fused kernels
_BITS = 16  # radix of the two-pass selection on float32 bit patterns

if njit is not None:

    @njit(parallel=True, cache=True, nogil=True)
    def _fused_project_kernel(ws, w0s, bufs, taus, chunk_t, chunk_lo,
                              chunk_hi):
        kept = 0
        for c in prange(chunk_t.size):
            t = chunk_t[c]
            w, w0, buf, tau = ws[t], w0s[t], bufs[t], taus[t]
            reset = buf.size > 0
            for i in range(chunk_lo[c], chunk_hi[c]):
                if abs(w[i] - w0[i]) <= tau:
                    w[i] = w0[i]
                    if reset:
                        buf[i] = 0
                else:
                    kept += 1
        return kept

    @njit(parallel=True, cache=True, nogil=True)
    def _fused_budget_kernel(ws, w0s, bufs, tau, allow, chunk_t, chunk_lo,
                             chunk_hi):
        """Keep |w - w0| > tau, and the first ``allow[c]`` entries equal
        to tau in work item c; snap the rest back."""
        kept = 0
        for c in prange(chunk_t.size):
            t = chunk_t[c]
            w, w0, buf = ws[t], w0s[t], bufs[t]
            reset = buf.size > 0
            ties = allow[c]
            for i in range(chunk_lo[c], chunk_hi[c]):
                d = abs(w[i] - w0[i])
                if d > tau:
                    kept += 1
                elif d == tau and ties > 0:
                    ties -= 1
                    kept += 1
                else:
                    w[i] = w0[i]
                    if reset:
                        buf[i] = 0
        return kept

    @njit(parallel=True, cache=True, nogil=True)
    def _fused_tie_count_kernel(ws, w0s, tau, chunk_t, chunk_lo, chunk_hi):
        counts = np.zeros(chunk_t.size, np.int64)
        for c in prange(chunk_t.size):
            w, w0 = ws[chunk_t[c]], w0s[chunk_t[c]]
            n = 0
            for i in range(chunk_lo[c], chunk_hi[c]):
                if abs(w[i] - w0[i]) == tau:
                    n += 1
            counts[c] = n
        return counts

    @njit(parallel=True, cache=True, nogil=True)
    def _fused_count_kernel(ws, w0s, chunk_t, chunk_lo, chunk_hi):
        changed = 0
        for c in prange(chunk_t.size):
            w, w0 = ws[chunk_t[c]], w0s[chunk_t[c]]
            for i in range(chunk_lo[c], chunk_hi[c]):
                if w[i] != w0[i]:
                    changed += 1
        return changed

    @njit(parallel=True, cache=True, nogil=True)
    def _fused_histogram_kernel(ws, w0s, chunk_t, chunk_lo, chunk_hi,
                                prefix, ngroups):
        """Histogram of the float32 bit patterns of |w - w0| (monotone in
        the value for non-negative floats): of the high 16 bits when
        ``prefix < 0``, else of the low 16 bits of the entries whose high
        bits equal ``prefix``."""
        hist = np.zeros((ngroups, 1 << 16), np.int64)
        for g in prange(ngroups):
            scratch = np.empty(_CHUNK, np.float32)
            bits = scratch.view(np.uint32)
            for c in range(g, chunk_t.size, ngroups):
                w, w0 = ws[chunk_t[c]], w0s[chunk_t[c]]
                lo, n = chunk_lo[c], chunk_hi[c] - chunk_lo[c]
                for i in range(n):
                    scratch[i] = abs(w[lo + i] - w0[lo + i])
                for i in range(n):
                    b = bits[i]
                    if prefix < 0:
                        hist[g, b >> 16] += 1
                    elif (b >> 16) == prefix:
                        hist[g, b & 0xFFFF] += 1
        return hist.sum(axis=0)


def _rank_bin(hist: np.ndarray, rank: int):
    """The bin holding the ``rank``-th largest entry (1-indexed) and the
    entry's rank inside that bin."""
    from_top = np.cumsum(hist[::-1])
    idx = int(np.searchsorted(from_top, rank))
    before = int(from_top[idx - 1]) if idx > 0 else 0
    return len(hist) - 1 - idx, rank - before


class FusedProjection:
    """Eq. (17) over a fixed set of tensors, as one pass per step.

    On CPU, when every tensor is a contiguous float32 array, each call is a
    single parallel numba launch over 64k-element work items handed out
    dynamically (so one descheduled thread — data-loader workers compete
    for the cores — does not hold the others at a barrier per tensor).
    Anywhere else (CUDA, half precision, strided tensors) it runs
    ``torch.where`` per tensor and sums the kept count on the device, with
    one host read per call.

    Args:
        params (Sequence[Tensor]): the trained tensors (Parameters or their
            ``.data``), modified in place.
        w0s (Sequence[Tensor]): their pretrained values.
    """

    def __init__(self, params: Sequence[torch.Tensor],
                 w0s: Sequence[torch.Tensor]):
        if len(params) != len(w0s) or not params:
            raise ValueError('FusedProjection needs one w0 per tensor')
        self.params = list(params)
        self.w0s = list(w0s)
        self.numel = sum(p.numel() for p in self.params)
        self._fused = njit is not None and all(
            _fast_path(p) and p.dtype == torch.float32 and w0.is_contiguous()
            for p, w0 in zip(self.params, self.w0s))
        self._key = None
        self._scratch: Optional[torch.Tensor] = None
        if self._fused:
            sizes = np.array([p.numel() for p in self.params], np.int64)
            per = -(-sizes // _CHUNK)
            self._chunk_t = np.repeat(np.arange(len(sizes)), per)
            starts = np.concatenate([np.arange(0, s, _CHUNK) for s in sizes])
            self._chunk_lo = starts.astype(np.int64)
            self._chunk_hi = np.minimum(starts + _CHUNK,
                                        sizes[self._chunk_t]).astype(np.int64)

    # numba views of the current storages (rebuilt if a tensor moved)
    def _lists(self):
        key = tuple(p.data_ptr() for p in self.params)
        if key != self._key:
            self._ws = List([_np(p) for p in self.params])
            self._w0_np = List([_np(w0) for w0 in self.w0s])
            self._key = key
        return self._ws, self._w0_np

    def _chunks(self):
        return self._chunk_t, self._chunk_lo, self._chunk_hi

    @torch.no_grad()
    def project(self,
                tau: Union[float, Sequence[float]],
                momenta: Optional[Sequence[Optional[torch.Tensor]]] = None
                ) -> int:
        """Snap every entry with ``|w - w0| <= tau`` back to w0.

        Args:
            tau (float | Sequence[float]): one τ, or one per tensor.
            momenta (Sequence[Tensor | None], optional): optimizer buffers
                of the tensors, zeroed where their weight snaps back.

        Returns:
            int: the number of entries that keep their trained value.
        """
        taus = [float(tau)] * len(self.params) if np.isscalar(tau) else \
            [float(t) for t in tau]
        momenta = list(momenta) if momenta is not None else \
            [None] * len(self.params)
        if self._fusable(momenta):
            ws, w0s = self._lists()
            bufs = self._momentum_arrays(momenta)
            with np.errstate(over='ignore'):  # tau > float32 max -> inf
                tau_np = np.array(taus, np.float64).astype(np.float32)
            with parallel_chunksize(1):
                return int(_fused_project_kernel(ws, w0s, bufs, tau_np,
                                                 *self._chunks()))
        kept = None
        for p, w0, t, m in zip(self.params, self.w0s, taus, momenta):
            w = p.data
            snap = (w - w0).abs_() <= t
            torch.where(snap, w0, w, out=w)
            if m is not None:
                m.masked_fill_(snap, 0)
            n = snap.numel() - snap.sum()
            kept = n if kept is None else kept + n
        return int(kept)

    @torch.no_grad()
    def count_changed(self) -> int:
        """Entries with ``w != w0`` (the residual's nonzeros)."""
        if self._fused:
            with parallel_chunksize(1):
                return int(_fused_count_kernel(*self._lists(),
                                               *self._chunks()))
        total = None
        for p, w0 in zip(self.params, self.w0s):
            n = (p.data != w0).sum()
            total = n if total is None else total + n
        return int(total)

    def _momentum_arrays(self, momenta):
        empty = np.empty(0, np.float32)
        return List([empty if m is None else _np(m) for m in momenta])

    def _fusable(self, momenta) -> bool:
        return self._fused and all(
            m is None or (m.is_contiguous() and m.dtype == torch.float32)
            for m in momenta)

    @torch.no_grad()
    def project_to_budget(
            self,
            keep: int,
            momenta: Optional[Sequence[Optional[torch.Tensor]]] = None
    ) -> Tuple[int, float]:
        """Eq. (17) with the τ that keeps exactly ``keep`` entries (or every
        changed entry when fewer changed): the largest ``|w - w0|`` stay,
        everything else snaps back to w0. Ties at τ (e.g. Adam's first
        step moves every weight by the same lr) are broken by position,
        deterministically, so the budget is met exactly.

        O(n), no sort: two histogram passes over the float32 bit patterns
        of ``|w - w0|`` find τ exactly on CPU (plus one counting pass when
        there are ties at τ); ``torch.kthvalue`` (a selection) elsewhere.

        Args:
            keep (int): number of entries allowed to differ from w0.
            momenta: as in :meth:`project`.

        Returns:
            tuple[int, float]: kept entries and the τ used (``-1`` when
            ``keep >= numel``: nothing is projected).
        """
        momenta = list(momenta) if momenta is not None else \
            [None] * len(self.params)
        if keep >= self.numel:
            return self.count_changed(), -1.
        if not self._fusable(momenta):
            return self._torch_budget(keep, momenta)
        ws, w0s = self._lists()
        chunks = self._chunks()
        groups = 4 * numba.get_num_threads()
        with parallel_chunksize(1):
            high = _fused_histogram_kernel(ws, w0s, *chunks, -1, groups)
            hi_bin, rank = _rank_bin(high, keep + 1)
            low = _fused_histogram_kernel(ws, w0s, *chunks, hi_bin, groups)
            lo_bin, rank = _rank_bin(low, rank)
            tau = np.array([(hi_bin << _BITS) | lo_bin],
                           np.uint32).view(np.float32)[0]
            # the (keep+1)-th largest is the rank-th of the entries equal
            # to tau: rank - 1 of those are kept too
            allow = np.zeros(len(chunks[0]), np.int64)
            wanted = rank - 1 if tau > 0 else 0
            if wanted > 0:
                counts = _fused_tie_count_kernel(ws, w0s, tau, *chunks)
                before = np.cumsum(counts) - counts
                allow = np.clip(wanted - before, 0, counts)
            kept = _fused_budget_kernel(ws, w0s,
                                        self._momentum_arrays(momenta), tau,
                                        allow, *chunks)
        return int(kept), float(tau)

    def _torch_budget(self, keep, momenta):
        p0 = self.params[0]
        if self._scratch is None or self._scratch.numel() != self.numel:
            self._scratch = torch.empty(
                self.numel, dtype=p0.dtype, device=p0.device)
        diff, offset = self._scratch, 0
        for p, w0 in zip(self.params, self.w0s):
            abs_diff(p.data, w0, diff[offset:offset + p.numel()])
            offset += p.numel()
        tau = torch.kthvalue(diff, self.numel - keep).values
        keep_mask = diff > tau
        if tau > 0:  # ties at tau: the first ones by position are kept
            ties = torch.nonzero(diff == tau).view(-1)
            wanted = keep - keep_mask.sum()
            keep_mask[ties[:int(wanted)]] = True
        kept, offset = keep_mask.sum(), 0
        for p, w0, m in zip(self.params, self.w0s, momenta):
            snap = ~keep_mask[offset:offset + p.numel()].view(p.shape)
            offset += p.numel()
            torch.where(snap, w0, p.data, out=p.data)
            if m is not None:
                m.masked_fill_(snap, 0)
        return int(kept), float(tau)
