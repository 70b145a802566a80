"""Vectorised LEB128 varint coding of sorted flat positions (delta coded).

Sorted positions ``p_0 < p_1 < ...`` are stored as gaps
``g_0 = p_0, g_i = p_i - p_{i-1} - 1 >= 0``, each gap as 7-bit groups, low
group first, high bit set on every byte but the last of a gap. At 0.5 %
density the mean gap is ~200, i.e. ~1.5 bytes per position.
"""
import numpy as np

_MAX_BYTES = 10  # enough for uint64


def encode_positions(positions: np.ndarray) -> np.ndarray:
    """Encode strictly increasing non-negative int64 positions as uint8."""
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size == 0:
        return np.zeros(0, np.uint8)
    gaps = np.diff(positions, prepend=-1) - 1
    if gaps.min() < 0:
        raise ValueError('positions must be strictly increasing and >= 0')
    gaps = gaps.astype(np.uint64)
    nbytes = np.ones(gaps.shape, np.int64)
    for k in range(1, _MAX_BYTES):
        nbytes += gaps >= np.uint64(1 << (7 * k))
    starts = np.cumsum(nbytes) - nbytes
    out = np.empty(int(nbytes.sum()), np.uint8)
    for k in range(int(nbytes.max())):
        sel = nbytes > k
        group = (gaps[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (nbytes[sel] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[sel] + k] = (group | more).astype(np.uint8)
    return out


def decode_positions(data: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_positions`; raises ValueError on bad data."""
    data = np.asarray(data, dtype=np.uint8)
    if data.size == 0:
        return np.zeros(0, np.int64)
    last = (data & 0x80) == 0
    if not last[-1]:
        raise ValueError('truncated position stream')
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if int((ends - starts).max()) >= _MAX_BYTES:
        raise ValueError('corrupt position stream (varint too long)')
    offset = np.arange(data.size) - np.repeat(starts, ends - starts + 1)
    groups = (data & 0x7F).astype(np.uint64) << (7 * offset).astype(np.uint64)
    gaps = np.add.reduceat(groups, starts).astype(np.int64)
    return np.cumsum(gaps + 1) - 1
