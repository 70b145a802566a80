"""The patch file format as written in docs/rst_deployment.md.

A patch is written with the public API (``make_patch`` + ``Patch.save``),
then read back using ONLY what the spec describes: the safetensors layout
(``safetensors.numpy`` / raw bytes), ``json``, ``hashlib`` and ``numpy``.
Nothing of ``mmvlpuda.sparse.varint`` or the patch internals is used for
reading: positions, checksums and the reconstruction of the trained (and
the base) weights are re-implemented here from the spec's text.
"""
import hashlib
import json
import os.path as osp

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from conftest import REPO_ROOT

SPEC = osp.join(REPO_ROOT, 'docs', 'rst_deployment.md')

# safetensors dtype codes listed in the spec -> numpy (BF16 has no numpy
# dtype: decoded by hand, as the spec describes)
ST_DTYPES = {
    'F32': np.float32,
    'F16': np.float16,
    'I64': np.int64,
    'U8': np.uint8,
    'BF16': None
}


# ---------------------------------------------------------------------------
# a reader written from the spec
# ---------------------------------------------------------------------------
def read_raw(path):
    """8-byte little-endian header length, JSON header, raw tensor bytes
    (little-endian, C order) at ``data_offsets`` relative to the byte after
    the header."""
    data = open(path, 'rb').read()
    n = int.from_bytes(data[:8], 'little')
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors = {}
    for key, info in header.items():
        if key == '__metadata__':
            continue
        start, end = info['data_offsets']
        buf = body[start:end]
        if info['dtype'] == 'BF16':  # upper 16 bits of a float32
            u16 = np.frombuffer(buf, '<u2').astype(np.uint32)
            arr = (u16 << 16).view(np.float32)
        else:
            arr = np.frombuffer(
                buf,
                np.dtype(ST_DTYPES[info['dtype']]).newbyteorder('<'))
        tensors[key] = (info['dtype'], arr.reshape(info['shape']))
    return header.get('__metadata__', {}), tensors


def decode_positions(stream):
    """Spec: split the byte stream after every byte < 0x80, gap =
    sum((b & 0x7f) << 7k), p_i = cumsum(g + 1)_i - 1."""
    gaps, cur, k = [], 0, 0
    for b in stream.tolist():
        cur |= (b & 0x7F) << (7 * k)
        k += 1
        if b < 0x80:
            gaps.append(cur)
            cur, k = 0, 0
    assert k == 0, 'stream ends inside a gap'
    return np.cumsum(np.asarray(gaps, np.int64) + 1) - 1


def encode_positions(positions):
    """Spec: g_0 = p_0, g_i = p_i - p_{i-1} - 1, LEB128, low group first,
    high bit on every byte but the last of a gap."""
    out, prev = [], -1
    for p in positions.tolist():
        g, prev = p - prev - 1, p
        while True:
            byte, g = g & 0x7F, g >> 7
            out.append(byte | (0x80 if g else 0))
            if not g:
                break
    return np.asarray(out, np.uint8)


def tensor_bytes(arr):
    return np.ascontiguousarray(arr).tobytes()


def base_checksum(base, names):
    """Spec: sorted names; f'{name}|{tuple(shape)}|{torch dtype}|' + bytes."""
    digest = hashlib.sha256()
    for name in sorted(names):
        arr = base[name]
        digest.update(
            f'{name}|{tuple(arr.shape)}|torch.{arr.dtype.name}|'.encode())
        digest.update(tensor_bytes(arr))
    return digest.hexdigest()


def payload_checksum(tensors):
    """Spec: sorted keys; UTF-8 key + raw bytes."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensor_bytes(tensors[key]))
    return digest.hexdigest()


def reconstruct(base, meta, tensors, direction='apply'):
    """Spec semantics. apply: w[pos] = w0[pos] + val in the model dtype,
    then w[exact_pos] = exact_val, dense tensors copied in. remove:
    w0[pos] = w[pos] - val, then w0[base_pos] = base_val."""
    out = {n: a.copy() for n, a in base.items()}
    for name, info in meta['entries'].items():
        dtype = np.dtype(info['dtype'])
        flat = out[name].reshape(-1)
        pos = decode_positions(tensors[f'sparse/{name}/pos'])
        val = tensors[f'sparse/{name}/val'].astype(dtype)
        if direction == 'apply':
            flat[pos] = flat[pos] + val
            key = f'sparse/{name}/exact'
        else:
            flat[pos] = flat[pos] - val
            key = f'sparse/{name}/base'
        if f'{key}_pos' in tensors:
            flat[tensors[f'{key}_pos']] = tensors[f'{key}_val']
        out[name] = flat.reshape(info['shape'])
    if direction == 'apply':
        for name in meta['dense']:
            out[name] = tensors[f'dense/{name}'].copy()
    return out


def bits(arr):
    """Bit pattern (so -0.0 != 0.0 and NaN payloads count)."""
    arr = np.ascontiguousarray(arr)
    return arr.view(f'u{arr.dtype.itemsize}') if arr.dtype.kind == 'f' \
        else arr


# ---------------------------------------------------------------------------
# a trained model and its base, written with the public API
# ---------------------------------------------------------------------------
def _trained_and_base(seed=0):
    """A base state dict and a 'trained' one that differs at sparse
    positions (with magnitudes chosen so that some residuals do not round
    trip and need exact/base overrides), big gaps (multi-byte varints), a
    0-d tensor, an unchanged tensor, a float16 tensor and a dense head."""
    rng = np.random.default_rng(seed)
    base = {
        'backbone.conv.weight': rng.standard_normal((8, 3, 5, 5)),
        'backbone.big.weight': rng.standard_normal((300, 500)),
        'backbone.bias': rng.standard_normal(16),
        'backbone.scale': np.array(0.5),
        'backbone.frozen': rng.standard_normal(7),
        'backbone.w16': rng.standard_normal(64),
        'task_head.fc.weight': rng.standard_normal((5, 16)),
        'task_head.bn.num_batches_tracked': np.array(0),
    }
    base = {
        n:
        (a.astype(np.float16) if n == 'backbone.w16' else
         a.astype(np.int64) if a.dtype.kind == 'i' else a.astype(np.float32))
        for n, a in base.items()
    }
    # widely spread magnitudes: w - w0 is then often inexact in float32
    base['backbone.conv.weight'] *= np.float32(10.)**rng.integers(
        -8, 4, base['backbone.conv.weight'].shape).astype(np.float32)
    trained = {n: a.copy() for n, a in base.items()}
    for name in ('backbone.conv.weight', 'backbone.bias', 'backbone.w16'):
        flat = trained[name].reshape(-1)
        pos = rng.choice(flat.size, flat.size // 3, replace=False)
        flat[pos] = (rng.standard_normal(pos.size) *
                     10.**rng.integers(-6, 3, pos.size)).astype(flat.dtype)
    big = trained['backbone.big.weight'].reshape(-1)
    # gaps 0, 0, 127, 16369, 16384, ...: one-, two- and three-byte varints
    big_pos = np.array([0, 1, 2, 130, 16_500, 32_885, big.size - 1])
    big[big_pos] += np.float32(0.25)
    trained['backbone.scale'] = np.array(0.75, np.float32)
    trained['task_head.fc.weight'] += np.float32(0.1)
    trained['task_head.bn.num_batches_tracked'] = np.array(12)
    return base, trained


def _save_patch(path, base, trained, value_dtype='float32'):
    from mmvlpuda.sparse import make_patch
    t = {n: torch.from_numpy(a.copy()) for n, a in trained.items()}
    b = {n: torch.from_numpy(a.copy()) for n, a in base.items()}
    names = [n for n in t if n.startswith('backbone.')]
    patch = make_patch(
        t,
        b,
        names=names,
        dense=('task_head', ),
        value_dtype=value_dtype,
        arch='toy',
        tau=1e-6)
    patch.save(str(path))
    return patch


@pytest.fixture(scope='module')
def model_pair():
    return _trained_and_base()


@pytest.fixture(scope='module')
def fp32_patch(model_pair, tmp_path_factory):
    path = tmp_path_factory.mktemp('spec') / 'toy.patch'
    _save_patch(path, *model_pair)
    return str(path)


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------
def test_spec_states_what_this_test_relies_on():
    """The page describes what the reader above implements (so the test
    breaks when the spec is edited away from it)."""
    spec = open(SPEC, encoding='utf-8').read()
    for phrase in ('mmvlpuda-sparse-patch', '`version`', '`meta`',
                   'sparse/<name>/pos', 'sparse/<name>/val',
                   'sparse/<name>/exact_pos', 'sparse/<name>/exact_val',
                   'sparse/<name>/base_pos', 'sparse/<name>/base_val',
                   'dense/<name>', 'base_sha256', 'payload_sha256', 'LEB128',
                   '0x80', 'cumsum(g + 1)', 'F32', 'BF16', 'U8', 'I64',
                   '8-byte little-endian'):
        assert phrase in spec, phrase


def test_header_layout_and_metadata(fp32_patch, model_pair):
    base, trained = model_pair
    metadata, raw = read_raw(fp32_patch)
    with safe_open(fp32_patch, 'np') as f:
        assert f.metadata() == metadata
    assert metadata['format'] == 'mmvlpuda-sparse-patch'
    assert metadata['version'] == '1'
    assert all(isinstance(v, str) for v in metadata.values())
    meta = json.loads(metadata['meta'])

    names = sorted(n for n in trained if n.startswith('backbone.'))
    assert sorted(meta['entries']) == names
    assert meta['dense'] == [
        'task_head.bn.num_batches_tracked', 'task_head.fc.weight'
    ]
    assert meta['value_dtype'] == 'float32'
    assert meta['arch'] == 'toy' and meta['tau'] == 1e-6  # free-form
    nnz = 0
    for name, info in meta['entries'].items():
        assert info['shape'] == list(trained[name].shape)
        assert info['dtype'] == trained[name].dtype.name
        changed = int((bits(trained[name]) != bits(base[name])).sum())
        assert info['nnz'] == changed, name
        nnz += changed
    assert meta['entries']['backbone.frozen']['nnz'] == 0
    assert meta['nnz'] == nnz
    assert meta['dsp'] == nnz + sum(trained[n].size for n in meta['dense'])

    # every key of the file is one the spec lists, with the listed dtype
    st_code = {'float32': 'F32', 'float16': 'F16', 'int64': 'I64'}
    for key, (code, arr) in raw.items():
        kind, _, rest = key.partition('/')
        if kind == 'dense':
            assert rest in meta['dense']
            assert code == st_code[trained[rest].dtype.name]
            assert arr.shape == trained[rest].shape
            continue
        assert kind == 'sparse'
        name, _, field = rest.rpartition('/')
        model_code = st_code[meta['entries'][name]['dtype']]
        expected = dict(
            pos='U8',
            val='F32',
            exact_pos='I64',
            exact_val=model_code,
            base_pos='I64',
            base_val=model_code)
        assert code == expected[field], key
        assert arr.ndim == 1
    for name in names:
        assert f'sparse/{name}/pos' in raw and f'sparse/{name}/val' in raw
    # the overrides were exercised (only float32 model tensors get them)
    assert 'sparse/backbone.conv.weight/exact_pos' in raw
    assert 'sparse/backbone.conv.weight/base_pos' in raw
    assert not any(k.startswith('sparse/backbone.w16/exact') for k in raw)


def test_safetensors_numpy_reads_the_same_tensors(fp32_patch):
    _, raw = read_raw(fp32_patch)
    tensors = load_file(fp32_patch)
    assert sorted(tensors) == sorted(raw)
    for key, arr in tensors.items():
        assert arr.dtype == raw[key][1].dtype
        assert np.array_equal(bits(arr), bits(raw[key][1])), key


def test_positions_follow_the_varint_description(fp32_patch, model_pair):
    base, trained = model_pair
    tensors = load_file(fp32_patch)
    meta = json.loads(safe_open(fp32_patch, 'np').metadata()['meta'])
    lengths = set()
    for name, info in meta['entries'].items():
        stream = tensors[f'sparse/{name}/pos']
        pos = decode_positions(stream)
        expected = np.flatnonzero(
            bits(trained[name]).reshape(-1) != bits(base[name]).reshape(-1))
        assert np.array_equal(pos, expected), name
        assert len(pos) == info['nnz']
        assert len(tensors[f'sparse/{name}/val']) == info['nnz']
        # byte-identical to an encoder written from the spec
        assert np.array_equal(encode_positions(pos), stream), name
        lengths |= {
            len(encode_positions(np.array([g])))
            for g in np.diff(pos, prepend=-1) - 1
        }
    assert {1, 2, 3} <= lengths  # one-, two- and three-byte gaps occurred


def test_checksums_follow_the_spec(fp32_patch, model_pair):
    base, _ = model_pair
    tensors = load_file(fp32_patch)
    meta = json.loads(safe_open(fp32_patch, 'np').metadata()['meta'])
    assert payload_checksum(tensors) == meta['payload_sha256']
    assert base_checksum(base, meta['entries']) == meta['base_sha256']
    # the base checksum really identifies the base
    other = dict(base)
    other['backbone.bias'] = base['backbone.bias'] + np.float32(1e-7)
    assert base_checksum(other, meta['entries']) != meta['base_sha256']


def test_reconstruct_trained_and_base_weights_bit_exactly(
        fp32_patch, model_pair):
    base, trained = model_pair
    tensors = load_file(fp32_patch)
    meta = json.loads(safe_open(fp32_patch, 'np').metadata()['meta'])
    applied = reconstruct(base, meta, tensors, 'apply')
    for name in trained:
        if trained[name].dtype == np.float32 or name in meta['dense']:
            assert np.array_equal(bits(applied[name]),
                                  bits(trained[name])), name
    # float16 model tensor with float32 residuals: w0 + val rounds in
    # float16 (no overrides are written for it): close, consistent below
    np.testing.assert_allclose(
        applied['backbone.w16'], trained['backbone.w16'], rtol=1e-3, atol=1e-3)
    restored = reconstruct(applied, meta, tensors, 'remove')
    for name in meta['entries']:
        if trained[name].dtype == np.float32:
            assert np.array_equal(bits(restored[name]), bits(base[name])), name
    # without the exact overrides the float32 reconstruction is NOT exact
    # (i.e. the test data really needs them)
    plain = {k: v for k, v in tensors.items() if '/exact_' not in k}
    approx = reconstruct(base, meta, plain, 'apply')
    assert not np.array_equal(
        bits(approx['backbone.conv.weight']),
        bits(trained['backbone.conv.weight']))


def test_reader_agrees_with_apply_patch(fp32_patch, model_pair):
    """The spec reader and mmvlpuda's apply_patch give identical tensors
    (also for the float16 tensor, which is not bit-exact to training)."""
    from mmvlpuda.sparse import Patch, apply_patch
    base, _ = model_pair
    tensors = load_file(fp32_patch)
    meta = json.loads(safe_open(fp32_patch, 'np').metadata()['meta'])
    ours = reconstruct(base, meta, tensors, 'apply')
    # a module tree holding the base tensors under the same names
    tree = torch.nn.Module()
    for name, arr in base.items():
        parent = tree
        *path, leaf = name.split('.')
        for part in path:
            if not hasattr(parent, part):
                parent.add_module(part, torch.nn.Module())
            parent = getattr(parent, part)
        parent.register_buffer(leaf, torch.from_numpy(arr.copy()))
    apply_patch(tree, Patch.load(fp32_patch))
    sd = tree.state_dict()
    for name in base:
        assert np.array_equal(bits(sd[name].numpy()), bits(ours[name])), name


@pytest.mark.parametrize('value_dtype', ['float16', 'bfloat16'])
def test_lossy_value_dtypes(value_dtype, model_pair, tmp_path):
    base, trained = model_pair
    path = str(tmp_path / f'{value_dtype}.patch')
    _save_patch(path, base, trained, value_dtype)
    metadata, raw = read_raw(path)
    meta = json.loads(metadata['meta'])
    assert meta['value_dtype'] == value_dtype
    code = {'float16': 'F16', 'bfloat16': 'BF16'}[value_dtype]
    tensors = {k: arr for k, (c, arr) in raw.items()}
    for name in meta['entries']:
        assert raw[f'sparse/{name}/val'][0] == code
        assert f'sparse/{name}/exact_pos' not in raw  # lossy: no overrides
    if value_dtype == 'float16':
        assert sorted(load_file(path)) == sorted(raw)
    # payload checksum is over the raw (little-endian) bytes as stored
    digest = hashlib.sha256()
    data = open(path, 'rb').read()
    n = int.from_bytes(data[:8], 'little')
    header = json.loads(data[8:8 + n])
    for key in sorted(k for k in header if k != '__metadata__'):
        start, end = header[key]['data_offsets']
        digest.update(key.encode() + data[8 + n + start:8 + n + end])
    assert digest.hexdigest() == meta['payload_sha256']
    assert base_checksum(base, meta['entries']) == meta['base_sha256']
    applied = reconstruct(base, meta, tensors, 'apply')
    # lossy: the error is relative to the residual w - w0 (value rounding)
    # plus one rounding of the sum in the model dtype
    # (and float16 residuals below 2**-14 are subnormal: step 2**-24)
    rel, floor = (2.**-7, 0.) if value_dtype == 'bfloat16' else (2.**-10,
                                                                 2.**-24)
    for name in meta['entries']:
        t, b = trained[name], base[name]
        err = np.abs(applied[name].astype(np.float64) - t)
        tol = rel * np.abs(t.astype(np.float64) - b) + 2 * np.spacing(
            np.abs(t)).astype(np.float64) + floor
        assert np.all(err <= tol), name


def test_readers_refuse_newer_versions_and_corrupt_payloads(
        fp32_patch, tmp_path):
    from mmvlpuda.sparse import Patch, PatchError
    tensors = load_file(fp32_patch)
    with safe_open(fp32_patch, 'np') as f:
        metadata = f.metadata()
    newer = str(tmp_path / 'v2.patch')
    save_file(tensors, newer, metadata=dict(metadata, version='2'))
    with pytest.raises(PatchError, match='version 2 is newer'):
        Patch.load(newer)
    # a file rewritten from the spec (same tensors + metadata) still loads
    same = str(tmp_path / 'same.patch')
    save_file(tensors, same, metadata=metadata)
    assert Patch.load(same).nnz == json.loads(metadata['meta'])['nnz']
    # one flipped residual bit: payload_sha256 mismatch
    bad = dict(tensors)
    val = bad['sparse/backbone.bias/val'].copy()
    val.view(np.uint32)[0] ^= 1
    bad['sparse/backbone.bias/val'] = val
    corrupt = str(tmp_path / 'corrupt.patch')
    save_file(bad, corrupt, metadata=metadata)
    with pytest.raises(PatchError, match='payload checksum'):
        Patch.load(corrupt)
    truncated = str(tmp_path / 'truncated.patch')
    with open(truncated, 'wb') as f:
        f.write(open(fp32_patch, 'rb').read()[:-3])
    with pytest.raises(PatchError):
        Patch.load(truncated)
