"""Delta + LEB128 coding of sorted flat positions (mmvlpuda.sparse.varint)."""
import numpy as np
import pytest

import mmvlpuda  # noqa: F401  (compat fixes before other mmvlpuda imports)
from mmvlpuda.sparse.varint import decode_positions, encode_positions


def _round_trip(positions):
    positions = np.asarray(positions, dtype=np.int64)
    data = encode_positions(positions)
    assert data.dtype == np.uint8 and data.ndim == 1
    decoded = decode_positions(data)
    assert decoded.dtype == np.int64
    np.testing.assert_array_equal(decoded, positions)
    return data


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_round_trip_random_sorted_positions(seed):
    rng = np.random.default_rng(seed)
    numel = 3_000_000
    pos = np.sort(rng.choice(numel, size=20_000, replace=False))
    pos = np.union1d(pos, [0, 1, 2, 3, 1000, 1001])  # 0 and consecutive runs
    # clusters of consecutive positions and a few very large gaps
    run = np.arange(2_000_000, 2_000_050)
    far = numel + np.array([0, 2**14, 2**14 + 1, 2**35 + 2**14, 2**36 + 2**35])
    pos = np.union1d(np.union1d(pos, run), far)
    _round_trip(pos)


def test_round_trip_gap_boundaries():
    # gaps around every 7-bit group boundary, incl. >= 2**14 and >= 2**35
    gaps = [0, 0, 1, 126, 127, 128, 129]
    for k in (2, 3, 4, 5, 6, 7, 8):
        gaps += [2**(7 * k) - 1, 2**(7 * k), 2**(7 * k) + 1]
    gaps += [2**35, 2**35 + 12345, 0, 0]
    pos = np.cumsum(np.asarray(gaps, dtype=np.int64) + 1) - 1
    assert pos[0] == 0 and pos[-1] < 2**62
    assert (np.diff(pos) - 1 >= 2**35).sum() >= 3
    _round_trip(pos)
    for single in ([0], [1], [127], [128], [2**14], [2**35], [2**40 + 7]):
        _round_trip(single)


def test_documented_byte_layout():
    # gaps g0 = p0, gi = pi - p(i-1) - 1; 7-bit groups, low group first,
    # high bit set on every byte but the last one of a gap
    data = encode_positions(np.array([0, 1, 130, 130 + 1 + 2**14]))
    assert data.tolist() == [0x00, 0x00, 0x80, 0x01, 0x80, 0x80, 0x01]


def test_empty_input():
    data = encode_positions(np.zeros(0, dtype=np.int64))
    assert data.dtype == np.uint8 and data.size == 0
    decoded = decode_positions(data)
    assert decoded.dtype == np.int64 and decoded.size == 0
    assert decode_positions(np.zeros(0, np.uint8)).size == 0


# 2_359_296 = 3 * 3 * 512 * 512, the largest RN50 conv
@pytest.mark.parametrize('numel', [100_000, 2_359_296])
def test_size_at_half_percent_density(numel):
    rng = np.random.default_rng(0)
    nnz = int(numel * 0.005)
    pos = np.sort(rng.choice(numel, size=nnz, replace=False))
    data = _round_trip(pos)
    bytes_per_pos = data.size / nnz
    assert 1.0 <= bytes_per_pos <= 2.0, bytes_per_pos


@pytest.mark.parametrize(
    'positions', [[3, 3], [0, 5, 5, 9], [5, 2], [0, 10, 9, 20], [-1], [-5, 3]])
def test_non_increasing_or_negative_input_raises(positions):
    with pytest.raises(ValueError):
        encode_positions(np.array(positions, dtype=np.int64))


@pytest.mark.parametrize('last_gap', [128, 2**14, 2**35])
def test_truncated_stream_raises(last_gap):
    pos = np.array([0, 7, 8, 8 + last_gap + 1], dtype=np.int64)
    data = encode_positions(pos)
    with pytest.raises(ValueError):
        decode_positions(data[:-1])


def test_corrupt_streams_raise():
    with pytest.raises(ValueError):  # only a continuation byte
        decode_positions(np.array([0x80], np.uint8))
    with pytest.raises(ValueError):  # varint longer than any uint64
        decode_positions(np.array([0x80] * 12 + [0x01], np.uint8))
