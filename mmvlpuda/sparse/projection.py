r"""The RST projection step, paper Eq. (17) (Alg. 1, line "project").

.. math:: w \leftarrow \begin{cases} w_0 & |w - w_0| \le \tau \\
                                     w & \text{otherwise} \end{cases}

applied in place by :class:`FusedProjection` (one pass over many tensors;
also the budget mode's exact top-k threshold). On CPU float32 tensors fused
numba kernels read w and w0 and write w only where it snaps back;
elsewhere (CUDA, half precision, strided) ``torch.where`` with ``out=w``.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

try:
    from numba import njit
    from numba.typed import List
except ImportError:  # pragma: no cover - numba is a dependency
    njit = None

if njit is not None:

    @njit(cache=True, nogil=True)
    def _abs_diff_kernel(w, w0, out):
        for i in range(w.size):
            out[i] = abs(w[i] - w0[i])


def _fast_path(w: torch.Tensor) -> bool:
    return (njit is not None and w.device.type == 'cpu'
            and w.dtype in (torch.float32, torch.float64)
            and w.is_contiguous())


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().view(-1).numpy()


def project_(w: torch.Tensor,
             w0: torch.Tensor,
             tau: float,
             momentum: Optional[torch.Tensor] = None) -> int:
    """Snap ``w`` back to ``w0`` where ``|w - w0| <= tau`` (in place); one
    tensor through :class:`FusedProjection`.

    Args:
        w (Tensor): trained tensor (modified in place).
        w0 (Tensor): pretrained tensor, same shape/dtype/device.
        tau (float): threshold τ (``inf`` resets everything).
        momentum (Tensor, optional): optimizer buffer of ``w``; zeroed where
            ``w`` snaps back.

    Returns:
        int: number of entries that keep their trained value.
    """
    return FusedProjection([w], [w0]).project(tau, [momentum])


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
_BITS = 16  # radix of the two-pass selection on float32 bit patterns
_SCRATCH = 1 << 14  # elements whose bit patterns are histogrammed at once
_SAMPLE = 1 << 16  # entries sampled to bracket the budget threshold

if njit is not None:
    # One sequential pass over all tensors per call. The work is memory
    # bound, so one core streams it at close to copy speed; a parallel
    # launch per tensor (or a parallel loop over typed-list items) collapses
    # when data-loader workers compete for the cores (benchmarks/rst_step.py)

    # each pass also counts non-finite |w - w0| (a diverged run), which
    # the caller reports instead of projecting silently

    @njit(cache=True, nogil=True)
    def _project_one(w, w0, buf, tau):
        reset = buf.size > 0
        kept, bad = 0, 0
        for i in range(w.size):
            d = abs(w[i] - w0[i])
            if not d < np.inf:
                bad += 1
            if d <= tau:
                w[i] = w0[i]
                if reset:
                    buf[i] = 0
            else:
                kept += 1
        return kept, bad

    @njit(cache=True, nogil=True)
    def _fused_project_kernel(ws, w0s, bufs, taus):
        kept, bad = 0, 0
        for t in range(len(ws)):
            k, b = _project_one(ws[t], w0s[t], bufs[t], taus[t])
            kept += k
            bad += b
        return kept, bad

    @njit(cache=True, nogil=True)
    def _budget_one(w, w0, buf, tau, ties):
        reset = buf.size > 0
        kept, bad = 0, 0
        for i in range(w.size):
            d = abs(w[i] - w0[i])
            if not d < np.inf:
                bad += 1
            if d > tau:
                kept += 1
            elif d == tau and ties > 0:
                ties -= 1
                kept += 1
            else:
                w[i] = w0[i]
                if reset:
                    buf[i] = 0
        return kept, ties, bad

    @njit(cache=True, nogil=True)
    def _fused_budget_kernel(ws, w0s, bufs, tau, ties):
        """Keep |w - w0| > tau and the first ``ties`` entries equal to tau
        (position order); snap the rest back."""
        kept, bad = 0, 0
        for t in range(len(ws)):
            k, ties, b = _budget_one(ws[t], w0s[t], bufs[t], tau, ties)
            kept += k
            bad += b
        return kept, bad

    @njit(cache=True, nogil=True)
    def _count_one(w, w0):
        n, bad = 0, 0
        for i in range(w.size):
            if w[i] != w0[i]:
                n += 1
                if not abs(w[i] - w0[i]) < np.inf:
                    bad += 1
        return n, bad

    @njit(cache=True, nogil=True)
    def _fused_count_kernel(ws, w0s):
        n, bad = 0, 0
        for t in range(len(ws)):
            k, b = _count_one(ws[t], w0s[t])
            n += k
            bad += b
        return n, bad

    @njit(cache=True, nogil=True)
    def _histogram_one(w, w0, prefix, hist, scratch):
        # 4 interleaved sub-histograms: consecutive entries mostly fall in
        # the same bin, and one counter would serialise the increments
        bits = scratch.view(np.uint32)
        for lo in range(0, w.size, scratch.size):
            n = min(scratch.size, w.size - lo)
            for i in range(n):
                scratch[i] = abs(w[lo + i] - w0[lo + i])
            if prefix < 0:
                for i in range(n):
                    hist[i & 3, bits[i] >> 16] += 1
            else:
                for i in range(n):
                    if (bits[i] >> 16) == prefix:
                        hist[i & 3, bits[i] & 0xFFFF] += 1

    @njit(cache=True, nogil=True)
    def _fused_histogram_kernel(ws, w0s, prefix):
        """Histogram of the float32 bit patterns of |w - w0| (monotone in
        the value for non-negative floats): of the high 16 bits when
        ``prefix < 0``, else of the low 16 bits of the entries whose high
        bits equal ``prefix``."""
        hist = np.zeros((4, 1 << 16), np.int64)
        scratch = np.empty(_SCRATCH, np.float32)
        for t in range(len(ws)):
            _histogram_one(ws[t], w0s[t], prefix, hist, scratch)
        return hist.sum(axis=0)


    @njit(cache=True, nogil=True)
    def _fused_sample_kernel(ws, w0s, stride, out):
        """|w - w0| at every ``stride``-th position of the concatenation."""
        j, skip = 0, 0
        for t in range(len(ws)):
            w, w0 = ws[t], w0s[t]
            i = skip
            while i < w.size and j < out.size:
                out[j] = abs(w[i] - w0[i])
                j += 1
                i += stride
            skip = i - w.size
        return j

    @njit(cache=True, nogil=True)
    def _bracket_one(w, w0, lo, hi, buf, nbuf):
        above = 0
        for i in range(w.size):
            d = abs(w[i] - w0[i])
            if d > hi:
                above += 1
            elif d >= lo:
                if nbuf < buf.size:
                    buf[nbuf] = d
                nbuf += 1
        return above, nbuf

    @njit(cache=True, nogil=True)
    def _fused_bracket_kernel(ws, w0s, lo, hi, buf):
        """Count |w - w0| > hi and collect the values in [lo, hi]."""
        above, nbuf = 0, 0
        for t in range(len(ws)):
            a, nbuf = _bracket_one(ws[t], w0s[t], lo, hi, buf, nbuf)
            above += a
        return above, nbuf


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
    single sequential numba pass over all of them (memory bound: one core
    streams it at about the speed of a ``copy_``, and nothing waits at a
    per-tensor barrier when data-loader workers compete for the cores).
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
        self._no_momenta = None
        self._force_histogram = False  # tests: the exact fallback alone
        self.non_finite = 0  # non-finite |w - w0| seen by the last call

    # numba views of the current storages (rebuilt if a tensor moved)
    def _lists(self):
        key = tuple(p.data_ptr() for p in self.params)
        if key != self._key:
            self._ws = List([_np(p) for p in self.params])
            self._w0_np = List([_np(w0) for w0 in self.w0s])
            self._key = key
        return self._ws, self._w0_np

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
            return self._finish(_fused_project_kernel(ws, w0s, bufs, tau_np))
        kept = bad = 0
        for p, w0, t, m in zip(self.params, self.w0s, taus, momenta):
            w = p.data
            diff = (w - w0).abs_()
            bad = bad + (~torch.isfinite(diff)).sum()
            snap = diff <= t
            torch.where(snap, w0, w, out=w)
            if m is not None:
                m.masked_fill_(snap, 0)
            kept = kept + (snap.numel() - snap.sum())
        return self._finish((kept, bad))  # one host read per call

    def _finish(self, kept_bad) -> int:
        kept, bad = kept_bad
        self.non_finite = int(bad)
        return int(kept)

    @torch.no_grad()
    def count_changed(self) -> int:
        """Entries with ``w != w0`` (the residual's nonzeros)."""
        if self._fused:
            return self._finish(_fused_count_kernel(*self._lists()))
        total = bad = 0
        for p, w0 in zip(self.params, self.w0s):
            total = total + (p.data != w0).sum()
            bad = bad + (~torch.isfinite(p.data - w0)).sum()
        return self._finish((total, bad))

    def _momentum_arrays(self, momenta):
        if all(m is None for m in momenta):
            if self._no_momenta is None:
                empty = np.empty(0, np.float32)
                self._no_momenta = List([empty] * len(momenta))
            return self._no_momenta
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

        O(n), no sort. On CPU: a strided sample of ``|w - w0|`` brackets
        τ, one pass counts the entries above the bracket and collects
        those inside it, a partial partition of the collected ones gives τ
        exactly, and a second pass projects; if the sample's bracket
        misses, two radix-histogram passes over the float32 bit patterns
        find τ exactly instead. Elsewhere ``torch.kthvalue`` (a selection,
        on a flat copy).

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
        found = None if self._force_histogram else self._bracket_select(
            ws, w0s, keep + 1)
        tau, ties = found or self._histogram_select(ws, w0s, keep + 1)
        bufs = self._momentum_arrays(momenta)
        if ties == 0:  # the common case: a plain threshold at tau
            taus = np.full(len(self.params), tau, np.float32)
            return self._finish(
                _fused_project_kernel(ws, w0s, bufs, taus)), tau
        kept = _fused_budget_kernel(ws, w0s, bufs, np.float32(tau), ties)
        return self._finish(kept), float(tau)

    def _bracket_select(self, ws, w0s, rank):
        """τ = the ``rank``-th largest |w - w0| from a deterministic sample
        that brackets it and one counting pass; None if the bracket missed
        (then the exact histogram selection runs).

        Returns:
            tuple[float, int]: τ and how many entries equal to τ are kept.
        """
        m = min(self.numel, _SAMPLE)
        sample = np.empty(m, np.float32)
        m = _fused_sample_kernel(ws, w0s, max(self.numel // m, 1), sample)
        sample = -np.sort(-sample[:m])  # descending
        pos = rank / self.numel * m
        margin = 4. * math.sqrt(pos * (1. - pos / m)) + 16.
        top, bottom = int(pos - margin), int(pos + margin)
        hi = np.float32(np.inf) if top < 0 else sample[top]
        lo = sample[min(bottom, m - 1)] if bottom < m else np.float32(0)
        # zeros (unchanged entries) are never collected
        lo = max(lo, np.float32(np.finfo(np.float32).smallest_subnormal))
        capacity = int(2 * (bottom - top + 2) / m * self.numel) + 4096
        buf = np.empty(capacity, np.float32)
        above, nbuf = _fused_bracket_kernel(ws, w0s, lo, hi, buf)
        if nbuf > capacity or above >= rank:
            return None
        if above + nbuf < rank:  # below lo: only possible at lo = 0+
            return (0., 0) if lo <= np.finfo(np.float32).smallest_subnormal \
                else None
        vals = buf[:nbuf]
        j = nbuf - (rank - above)  # the (rank - above)-th largest
        tau = np.partition(vals, j)[j]
        greater = above + int((vals > tau).sum())
        return float(tau), rank - 1 - greater

    @staticmethod
    def _histogram_select(ws, w0s, rank):
        """Exact τ from two radix-histogram passes over the float32 bit
        patterns of |w - w0| (the fallback of :meth:`_bracket_select`)."""
        hi_bin, rank = _rank_bin(_fused_histogram_kernel(ws, w0s, -1), rank)
        lo_bin, rank = _rank_bin(_fused_histogram_kernel(ws, w0s, hi_bin),
                                 rank)
        tau = np.array([(hi_bin << _BITS) | lo_bin],
                       np.uint32).view(np.float32)[0]
        # the rank-th of the entries equal to tau: the first rank - 1 of
        # those (by position) are kept too
        return float(tau), (rank - 1 if tau > 0 else 0)

    def _torch_budget(self, keep, momenta):
        p0 = self.params[0]
        if self._scratch is None or self._scratch.numel() != self.numel:
            self._scratch = torch.empty(
                self.numel, dtype=p0.dtype, device=p0.device)
        diff, offset = self._scratch, 0
        for p, w0 in zip(self.params, self.w0s):
            abs_diff(p.data, w0, diff[offset:offset + p.numel()])
            offset += p.numel()
        bad = (~torch.isfinite(diff)).sum()
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
        return self._finish((kept, bad)), float(tau)
