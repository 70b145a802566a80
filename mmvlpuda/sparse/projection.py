r"""The RST projection step, paper Eq. (17) (Alg. 1, line "project").

.. math:: w \leftarrow \begin{cases} w_0 & |w - w_0| \le \tau \\
                                     w & \text{otherwise} \end{cases}

applied in place by :class:`FusedProjection` (one pass over many tensors;
also the budget mode's exact top-k threshold). On CPU float32 tensors fused
numba kernels read w and w0 and write w only where it snaps back;
elsewhere (CUDA, half precision, strided) the torch path: the tensors of one
device/dtype are gathered into one flat buffer and projected by a few
whole-buffer ops (``torch._foreach_copy_`` in and out, ``torch.where``), with
the counts kept on the device and read once per call, bit-identical to the
numba kernels.
"""
import math
from typing import Dict
from typing import List as TList
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
def abs_diff(w: torch.Tensor,
             w0: torch.Tensor,
             out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``|w - w0|`` flattened, written into ``out`` when given."""
    if out is None:
        out = torch.empty(w.numel(), dtype=w.dtype, device=w.device)
    if _fast_path(w) and out.dtype == w.dtype and w0.is_contiguous():
        _abs_diff_kernel(_np(w), _np(w0), out.numpy())
        return out
    return _torch_abs_diff(w, w0, out)


def _torch_abs_diff(w: torch.Tensor, w0: torch.Tensor,
                    out: torch.Tensor) -> torch.Tensor:
    return torch.sub(w.reshape(-1), w0.reshape(-1), out=out).abs_()


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
            if not d <= tau:  # NaN stays (reported by the caller)
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


BACKENDS = ('auto', 'torch')


def _uniform(taus: Sequence[float]) -> bool:
    return all(t == taus[0] for t in taus)


class _FlatGroup:
    """The tensors of one device and dtype on the torch path: their w0 as
    one flat buffer, and flat scratch buffers (allocated on first use) into
    which the trained values are gathered, so that each step of Eq. (17) is
    one op over the whole group instead of one per tensor.

    Args:
        index (list[int]): positions of the group's tensors in the set.
        w0s (list[Tensor]): their pretrained values (copied).
        dtype (torch.dtype): dtype of the trained tensors.
        device (torch.device): their device.
    """

    def __init__(self, index, w0s, dtype, device):
        self.index = index
        self.sizes = [w0.numel() for w0 in w0s]
        self.numel = sum(self.sizes)
        self.w0 = torch.cat(
            [w0.detach().reshape(-1).to(device, dtype) for w0 in w0s])
        self.w0_views = self.views(self.w0, w0s)
        self._w = self.diff = self.mask = None
        self._taus_key, self._taus = None, None

    def views(self, flat: torch.Tensor, like) -> TList[torch.Tensor]:
        """``flat`` split into views shaped as the tensors ``like``."""
        return [v.view(t.shape) for v, t in zip(flat.split(self.sizes), like)]

    def diff_of(self, params) -> torch.Tensor:
        """Gather the group's trained values into a flat buffer (kept for
        :meth:`write`) and return ``|w - w0|`` flat (one buffer, reused)."""
        ws = [params[i].data for i in self.index]
        if self._w is None:
            self._w = torch.empty_like(self.w0)
            self.diff = torch.empty_like(self.w0)
            self.mask = torch.empty(
                self.numel, dtype=torch.bool, device=self.w0.device)
            self._w_views = self.views(self._w, ws)
        torch._foreach_copy_(self._w_views, ws)
        return _torch_abs_diff(self._w, self.w0, self.diff)

    def taus(self, taus: Sequence[float]):
        """τ of every entry: a scalar, or a flat tensor when the tensors of
        the group have different τ (cached: rebuilt only when τ changes)."""
        mine = [taus[i] for i in self.index]
        if _uniform(mine):
            return mine[0]
        if mine != self._taus_key:
            device = self.w0.device
            # cast as a scalar τ is (to the dtype; inf on overflow)
            per_tensor = torch.tensor(
                mine, dtype=torch.float64).to(self.w0.dtype).to(device)
            self._taus = torch.repeat_interleave(
                per_tensor,
                torch.tensor(self.sizes, device=device),
                output_size=self.numel)
            self._taus_key = mine
        return self._taus

    def write(self, params, snap: torch.Tensor, momenta) -> None:
        """Eq. (17) on the gathered values where ``snap``, written back to
        the tensors; the given optimizer buffers are zeroed there."""
        torch.where(snap, self.w0, self._w, out=self._w)
        torch._foreach_copy_([params[i].data for i in self.index],
                             self._w_views)
        snaps = self.views(snap, self.w0_views)
        for i, s in zip(self.index, snaps):
            if momenta[i] is not None:
                momenta[i].masked_fill_(s, 0)


def _non_finite(diff: torch.Tensor) -> torch.Tensor:
    return diff.isfinite().logical_not_().sum()


class FusedProjection:
    """Eq. (17) over a fixed set of tensors, as one pass per step.

    On CPU, when every tensor is a contiguous float32 array, each call is a
    single sequential numba pass over all of them (memory bound: one core
    streams it at about the speed of a ``copy_``, and nothing waits at a
    per-tensor barrier when data-loader workers compete for the cores).
    Anywhere else (CUDA, half precision, strided tensors) the torch path
    runs a fixed number of ops per device/dtype group, whatever the number
    of tensors (:class:`_FlatGroup`), keeps the counts on the device and
    reads them once per call (the only host sync). Both paths give
    bit-identical weights and counts.

    The w0 values are copied into one flat buffer per device/dtype;
    :attr:`w0s` are views into it.

    Args:
        params (Sequence[Tensor]): the trained tensors (Parameters or their
            ``.data``), modified in place.
        w0s (Sequence[Tensor]): their pretrained values (copied).
        backend (str): ``'auto'`` (numba when possible, else torch) or
            ``'torch'`` (always the torch path). Defaults to 'auto'.
    """

    def __init__(self,
                 params: Sequence[torch.Tensor],
                 w0s: Sequence[torch.Tensor],
                 backend: str = 'auto'):
        if len(params) != len(w0s) or not params:
            raise ValueError('FusedProjection needs one w0 per tensor')
        if backend not in BACKENDS:
            raise ValueError(f'FusedProjection backend must be one of '
                             f"{BACKENDS}, got '{backend}'")
        self.params = list(params)
        self.numel = sum(p.numel() for p in self.params)
        self._groups = self._make_groups(w0s)
        self.w0s = [None] * len(self.params)
        for g in self._groups:
            for i, v in zip(g.index, g.w0_views):
                self.w0s[i] = v
        self._fused = backend == 'auto' and njit is not None and all(
            _fast_path(p) and p.dtype == torch.float32 for p in self.params)
        self._key = None
        self._no_momenta = None
        self._force_histogram = False  # tests: the exact fallback alone
        self.non_finite = 0  # non-finite |w - w0| seen by the last call

    def _make_groups(self, w0s) -> TList[_FlatGroup]:
        index: Dict[tuple, TList[int]] = {}
        for i, p in enumerate(self.params):
            index.setdefault((p.device, p.dtype), []).append(i)
        return [
            _FlatGroup(idx, [w0s[i] for i in idx], dtype, device)
            for (device, dtype), idx in index.items()
        ]

    # numba views of the current storages (rebuilt if a tensor moved)
    def _lists(self):
        key = tuple(p.data_ptr() for p in self.params)
        if key != self._key:
            self._ws = List([_np(p) for p in self.params])
            self._w0_np = List([_np(w0) for w0 in self.w0s])
            self._key = key
        return self._ws, self._w0_np

    @torch.no_grad()
    def project(
            self,
            tau: Union[float, Sequence[float]],
            momenta: Optional[Sequence[Optional[torch.Tensor]]] = None) -> int:
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
        momenta = self._momenta(momenta)
        if not self._fusable(momenta):
            return self._read(self._torch_project(taus, momenta))[0]
        ws, w0s = self._lists()
        bufs = self._momentum_arrays(momenta)
        with np.errstate(over='ignore'):  # tau > float32 max -> inf
            tau_np = np.array(taus, np.float64).astype(np.float32)
        return self._finish(_fused_project_kernel(ws, w0s, bufs, tau_np))

    def _torch_project(self, taus, momenta) -> torch.Tensor:
        """Eq. (17) per group; returns ``[kept, non-finite]`` on the
        device (no host sync)."""
        stats = []
        for g in self._groups:
            diff = g.diff_of(self.params)
            snap = torch.le(diff, g.taus(taus), out=g.mask)
            stats.append(
                torch.stack([g.numel - snap.sum(),
                             _non_finite(diff)]))
            g.write(self.params, snap, momenta)
        return torch.stack([s.to(stats[0].device) for s in stats]).sum(0)

    def _read(self, stats: torch.Tensor) -> list:
        """The one host read of a torch-path call: ``[kept, non-finite,
        ...]``; sets :attr:`non_finite`."""
        values = stats.double().tolist()
        self.non_finite = int(values[1])
        return [int(values[0])] + values[2:]

    def _finish(self, kept_bad) -> int:
        kept, bad = kept_bad
        self.non_finite = int(bad)
        return int(kept)

    @torch.no_grad()
    def count_changed(self) -> int:
        """Entries with ``w != w0`` (the residual's nonzeros)."""
        if self._fused:
            return self._finish(_fused_count_kernel(*self._lists()))
        stats = []
        for g in self._groups:
            diff = g.diff_of(self.params)
            changed = torch.ne(g._w, g.w0, out=g.mask)
            bad = (changed & ~diff.isfinite()).sum()
            stats.append(torch.stack([changed.sum(), bad]))
        return self._read(
            torch.stack([s.to(stats[0].device) for s in stats]).sum(0))[0]

    def _momenta(self, momenta) -> list:
        return list(momenta) if momenta is not None else \
            [None] * len(self.params)

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
        find τ exactly instead. On the torch path: one global
        ``torch.kthvalue`` over the flat ``|w - w0|``, ties broken on the
        device by a cumulative count, one host read.

        Args:
            keep (int): number of entries allowed to differ from w0.
            momenta: as in :meth:`project`.

        Returns:
            tuple[int, float]: kept entries and the τ used (``-1`` when
            ``keep >= numel``: nothing is projected).
        """
        momenta = self._momenta(momenta)
        if keep >= self.numel:
            return self.count_changed(), -1.
        if not self._fusable(momenta):
            kept, tau = self._read(self._torch_budget(keep, momenta))
            return kept, tau
        ws, w0s = self._lists()
        found = None if self._force_histogram else self._bracket_select(
            ws, w0s, keep + 1)
        tau, ties = found or self._histogram_select(ws, w0s, keep + 1)
        bufs = self._momentum_arrays(momenta)
        if ties == 0:  # the common case: a plain threshold at tau
            taus = np.full(len(self.params), tau, np.float32)
            return self._finish(_fused_project_kernel(ws, w0s, bufs,
                                                      taus)), tau
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
        lo_bin, rank = _rank_bin(
            _fused_histogram_kernel(ws, w0s, hi_bin), rank)
        tau = np.array([(hi_bin << _BITS) | lo_bin],
                       np.uint32).view(np.float32)[0]
        # the rank-th of the entries equal to tau: the first rank - 1 of
        # those (by position) are kept too
        return float(tau), (rank - 1 if tau > 0 else 0)

    def _torch_budget(self, keep, momenta) -> torch.Tensor:
        """Budget projection on the device; returns ``[kept, non-finite,
        τ]`` there (no host sync)."""
        diffs = [g.diff_of(self.params) for g in self._groups]
        diff = diffs[0] if len(diffs) == 1 else torch.cat(
            [d.to(diffs[0].device) for d in diffs])
        tau = torch.kthvalue(diff, self.numel - keep).values
        keep_mask = torch.le(diff, tau).logical_not_()  # NaN stays
        # ties at tau (never at 0: unchanged entries): the first ones by
        # position are kept, as many as the budget still allows
        ties = (diff == tau) & (tau > 0)
        wanted = keep - keep_mask.sum()
        keep_mask |= ties & (ties.cumsum(0, dtype=torch.int32) <= wanted)
        snap, offset = ~keep_mask, 0
        for g in self._groups:
            g.write(self.params, snap[offset:offset + g.numel].to(g.w0.device),
                    momenta)
            offset += g.numel
        return torch.stack([
            keep_mask.sum().double(),
            _non_finite(diff).double(),
            tau.double()
        ])
