"""RST projection (``project_``, ``abs_diff``) and O(nnz) w0 checkpoints."""
import io

import pytest
import torch

import mmvlpuda  # noqa: F401  (compat fixes before other mmvlpuda imports)
from mmvlpuda.sparse.checkpoint import RST_KEY, decode_w0, encode_w0
from mmvlpuda.sparse.projection import FusedProjection, abs_diff, project_

INF = float('inf')


def _reference(w, w0, tau):
    return torch.where((w - w0).abs() <= tau, w0, w)


def _pair(dtype=torch.float32, shape=(64, 48), seed=0):
    """w0 and a trained w: small residuals, some of them exactly zero."""
    g = torch.Generator().manual_seed(seed)
    w0 = (torch.randn(shape, generator=g) * 0.02).to(dtype)
    r = torch.randn(shape, generator=g) * 1e-3
    r[torch.rand(shape, generator=g) < 0.1] = 0
    w = (w0.float() + r).to(dtype)
    return w, w0


def _make_case(kind, seed=0):
    """(w, w0) laid out as ``kind``; w may be a view into a larger tensor."""
    if kind == 'fp32':
        return _pair(torch.float32, seed=seed)
    if kind == 'fp64':
        return _pair(torch.float64, seed=seed)
    if kind == 'bf16':
        return _pair(torch.bfloat16, seed=seed)
    if kind == 'fp32_transposed':
        w, w0 = _pair(torch.float32, seed=seed)
        w, w0 = w.t(), w0.t()
        assert not w.is_contiguous()
        return w, w0
    if kind == 'fp32_strided_view':
        w, w0 = _pair(torch.float32, shape=(64, 96), seed=seed)
        w, w0 = w[:, ::2], w0[:, ::2].contiguous()
        assert not w.is_contiguous()
        return w, w0
    if kind == 'fp32_noncontig_w0':
        w, w0 = _pair(torch.float32, shape=(48, 64), seed=seed)
        return w.t().contiguous(), w0.t()
    raise ValueError(kind)


KINDS = [
    'fp32', 'fp64', 'bf16', 'fp32_transposed', 'fp32_strided_view',
    'fp32_noncontig_w0'
]


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('tau', [0.0, 3e-4, 1e-3])
def test_project_matches_reference(kind, tau):
    w, w0 = _make_case(kind)
    w0_before = w0.clone()
    expected = _reference(w, w0, tau)
    num_kept = int(((w - w0).abs() > tau).sum())
    assert 0 < num_kept < w.numel()  # the case is not trivial
    kept = project_(w, w0, tau)
    assert torch.equal(w, expected)
    assert kept == num_kept
    assert kept == int((w != w0).sum())
    assert torch.equal(w0, w0_before)  # w0 is read only


def test_project_strided_view_leaves_other_columns_alone():
    w_full, w0_full = _pair(torch.float32, shape=(64, 96), seed=3)
    w = w_full[:, ::2]
    w0 = w0_full[:, ::2].contiguous()
    odd_before = w_full[:, 1::2].clone()
    expected = _reference(w, w0, 5e-4)
    project_(w, w0, 5e-4)
    assert torch.equal(w_full[:, ::2], expected)
    assert torch.equal(w_full[:, 1::2], odd_before)


@pytest.mark.parametrize('kind', KINDS)
def test_tau_taken_from_data_is_inclusive(kind):
    # tau equal to an actual |w - w0| of the tensor: that entry snaps back
    w, w0 = _make_case(kind, seed=1)
    diff = (w - w0).abs().reshape(-1)
    k = int(torch.argsort(diff.float())[diff.numel() // 2])
    tau = float(diff[k])
    assert tau > 0
    expected = _reference(w, w0, tau)
    target = w.reshape(-1)[k].clone()
    kept = project_(w, w0, tau)
    assert torch.equal(w, expected)
    assert kept == int(((expected - w0).abs() > tau).sum())
    assert w.reshape(-1)[k] == w0.reshape(-1)[k] != target


@pytest.mark.parametrize('dtype,contiguous', [(torch.float32, True),
                                              (torch.float64, True),
                                              (torch.bfloat16, True),
                                              (torch.float32, False)])
def test_boundary_equal_to_tau_snaps_back(dtype, contiguous):
    # all values exactly representable in bf16, fp32 and fp64
    w0 = torch.tensor([1.0, 1.0, 0.0, -2.0, 1.0, 1.0, 0.5, 4.0], dtype=dtype)
    w = torch.tensor(
        [1.25, 0.75, -0.25, -1.75, 1.2578125, 0.7421875, 0.5, 4.25],
        dtype=dtype)
    tau = 0.25
    if not contiguous:
        w = torch.stack([w, torch.zeros_like(w)], 1)[:, 0]
        assert not w.is_contiguous()
    kept = project_(w, w0, tau)
    expected = torch.tensor(
        [1.0, 1.0, 0.0, -2.0, 1.2578125, 0.7421875, 0.5, 4.0], dtype=dtype)
    assert torch.equal(w, expected)
    assert kept == 2


@pytest.mark.parametrize('kind', KINDS)
def test_tau_inf_resets_everything(kind):
    w, w0 = _make_case(kind, seed=2)
    # huge trained values: |w - w0| is inf (or overflows to inf)
    flat_idx = [(0, 0), (1, 1), (2, 2)]
    big = torch.finfo(w.dtype).max
    w[flat_idx[0]] = INF
    w[flat_idx[1]] = big
    w0[flat_idx[1]] = -big
    w[flat_idx[2]] = -INF
    w0_before = w0.clone()
    kept = project_(w, w0, INF)
    assert kept == 0
    assert torch.equal(w, w0_before)


def test_tau_inf_resets_finite_fp32():
    w, w0 = _pair(torch.float32, seed=4)
    w.view(-1)[::7] += 1e30
    assert project_(w, w0, INF) == 0
    assert torch.equal(w, w0)


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('momentum_layout', ['contiguous', 'transposed'])
def test_momentum_zeroed_exactly_where_snapped(kind, momentum_layout):
    w, w0 = _make_case(kind, seed=5)
    g = torch.Generator().manual_seed(9)
    if momentum_layout == 'contiguous':
        buf = torch.randn(w.shape, generator=g).to(w.dtype) + 3.0
    else:
        buf = (torch.randn(w.shape[::-1], generator=g) + 3.0).to(w.dtype).t()
        assert not buf.is_contiguous()
    assert bool((buf != 0).all())
    buf_before = buf.clone()
    tau = 5e-4
    snap = (w - w0).abs() <= tau
    expected = _reference(w, w0, tau)
    kept = project_(w, w0, tau, momentum=buf)
    assert torch.equal(w, expected)
    assert kept == int((~snap).sum())
    assert bool((buf[snap] == 0).all())
    assert torch.equal(buf[~snap], buf_before[~snap])


@pytest.mark.parametrize('kind', KINDS)
def test_abs_diff(kind):
    w, w0 = _make_case(kind, seed=6)
    expected = (w - w0).abs().reshape(-1)
    w_before = w.clone()
    got = abs_diff(w, w0)
    assert got.shape == (w.numel(), ) and got.dtype == w.dtype
    assert torch.equal(got, expected)
    out = torch.full((w.numel(), ), -1.0, dtype=w.dtype)
    got = abs_diff(w, w0, out=out)
    assert got.data_ptr() == out.data_ptr()
    assert torch.equal(out, expected)
    assert torch.equal(w, w_before)


@pytest.mark.parametrize('dtype',
                         [torch.float32, torch.float64, torch.bfloat16])
def test_abs_diff_into_slices_of_a_scratch_buffer(dtype):
    # as RSTHook does for top-k: one buffer, one slice per tensor
    pairs = [
        _pair(dtype, shape=s, seed=i)
        for i, s in enumerate([(16, 8, 3, 3), (40, ), (32, 24)])
    ]
    total = sum(w.numel() for w, _ in pairs)
    scratch = torch.full((total + 5, ), -7.0, dtype=dtype)
    offset = 0
    for w, w0 in pairs:
        abs_diff(w, w0, scratch[offset:offset + w.numel()])
        offset += w.numel()
    expected = torch.cat([(w - w0).abs().reshape(-1) for w, w0 in pairs])
    assert torch.equal(scratch[:total], expected)
    assert bool((scratch[total:] == -7.0).all())


# O(nnz) w0 inside checkpoints ---------------------------------------------
def _rst_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = {
        'conv.weight': (16, 8, 3, 3),
        'fc.weight': (32, 64),
        'fc.bias': (32, ),
        'logit_scale': (),
    }
    w0, trained = {}, {}
    for name, shape in shapes.items():
        base = torch.randn(shape, generator=g) * 0.02
        w = base + torch.randn(shape, generator=g) * 1e-3
        w0[name] = base
        trained[name] = w
    trained['fc.weight'][0, :3] = torch.tensor([-1.0, 1e-30, 7.0])
    trained['logit_scale'] = w0['logit_scale'] + 0.5
    taus = {
        'conv.weight': 1.5e-3,
        'fc.weight': 2e-3,
        'fc.bias': 1e-3,
        'logit_scale': 1e-3
    }
    nnz = 0
    for name in w0:
        nnz += project_(trained[name], w0[name], taus[name])
    trained['head.weight'] = torch.randn(4, 32, generator=g)  # not RST
    return trained, w0, nnz


def test_encode_decode_w0_round_trip():
    trained, w0, nnz = _rst_state()
    assert 0 < nnz < sum(t.numel() for t in w0.values()) // 4
    assert nnz == sum(int((trained[n] != w0[n]).sum()) for n in w0)
    trained_before = {n: t.clone() for n, t in trained.items()}
    entry = encode_w0(trained, w0, dense=('head', ), tau=1e-3)
    assert entry['tau'] == 1e-3 and list(entry['dense']) == ['head']
    ckpt = {'state_dict': trained, RST_KEY: entry}
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    for ck in (ckpt, loaded):
        rebuilt = decode_w0(ck)
        assert set(rebuilt) == set(w0)
        for name in w0:
            assert rebuilt[name].dtype == w0[name].dtype
            assert rebuilt[name].shape == w0[name].shape
            assert torch.equal(rebuilt[name], w0[name]), name
    for name, t in trained.items():  # the checkpoint is not modified
        assert torch.equal(t, trained_before[name])


def test_encoded_w0_is_o_nnz():
    trained, w0, nnz = _rst_state(seed=1)
    entry = encode_w0(trained, w0)
    stored = sum(t.numel() for part in ('w0_pos', 'w0_val')
                 for t in entry[part].values())
    assert stored <= 2 * nnz + 16
    dense = sum(t.numel() for t in w0.values())
    assert stored < dense / 4


def test_decode_w0_of_unprojected_identical_state_is_the_state():
    _, w0, _ = _rst_state(seed=2)
    state = {n: t.clone() for n, t in w0.items()}
    entry = encode_w0(state, w0)
    assert sum(t.numel() for t in entry['w0_val'].values()) == 0
    rebuilt = decode_w0({'state_dict': state, RST_KEY: entry})
    for name in w0:
        assert torch.equal(rebuilt[name], w0[name])


def test_decode_w0_errors():
    trained, w0, _ = _rst_state(seed=3)
    with pytest.raises(KeyError, match='rst'):
        decode_w0({'state_dict': trained})
    entry = encode_w0(trained, w0)
    state = dict(trained)
    del state['fc.bias']
    with pytest.raises(KeyError, match='fc.bias'):
        decode_w0({'state_dict': state, RST_KEY: entry})


# ---------------------------------------------------------------------------
# FusedProjection: many tensors in one pass, exact budget threshold
# ---------------------------------------------------------------------------
def _tensor_set(kind, seed=0):
    """Several (w, w0) of different sizes, one larger than a 64k work item
    of the fused kernel, all laid out as ``kind``."""
    cases = [_make_case(kind, seed=seed + i) for i in range(3)]
    g = torch.Generator().manual_seed(seed)
    big0 = torch.randn(300, 301, generator=g)
    big = big0 + torch.randn(300, 301, generator=g) * 1e-3
    same = torch.rand(300, 301, generator=g) < 0.5
    big[same] = big0[same]  # about half unchanged
    dtype = cases[0][0].dtype
    cases.append((big.to(dtype), big0.to(dtype)))
    return [w for w, _ in cases], [w0 for _, w0 in cases]


FUSED_KINDS = ['fp32', 'fp64', 'bf16', 'fp32_transposed']


@pytest.mark.parametrize('kind', FUSED_KINDS)
def test_fused_project_matches_reference_per_tensor_tau(kind):
    ws, w0s = _tensor_set(kind)
    taus = [0., 3e-4, INF, 1e-3]
    bufs = [torch.ones(w.shape, dtype=w.dtype) for w in ws]
    bufs[1] = None
    expect = [_reference(w, w0, t) for w, w0, t in zip(ws, w0s, taus)]
    snapped = [(w - w0).abs() <= t for w, w0, t in zip(ws, w0s, taus)]
    proj = FusedProjection(ws, w0s)
    kept = proj.project(taus, bufs)
    for w, e, b, s in zip(ws, expect, bufs, snapped):
        assert torch.equal(w, e)
        if b is not None:  # zeroed exactly where the weight snapped back
            assert torch.equal(b == 0, s)
    assert kept == sum(int((w != w0).sum()) for w, w0 in zip(ws, w0s))
    assert proj.count_changed() == kept


@pytest.mark.parametrize('kind', FUSED_KINDS)
@pytest.mark.parametrize('fraction', [0.0001, 0.01, 0.3, 0.9])
@pytest.mark.parametrize('selection', ['sample', 'histogram'])
def test_budget_keeps_exactly_the_largest_changes(kind, fraction, selection):
    ws, w0s = _tensor_set(kind, seed=3)
    proj = FusedProjection(ws, w0s)
    proj._force_histogram = selection == 'histogram'
    diffs = torch.cat([(w - w0).abs().reshape(-1).double()
                       for w, w0 in zip(ws, w0s)])
    nonzero = int((diffs > 0).sum())
    keep = int(fraction * proj.numel)
    kept, tau = proj.project_to_budget(keep)
    # exactly the budget, or every changed entry when fewer changed
    assert kept == min(keep, nonzero) == proj.count_changed()
    after = torch.cat([(w - w0).abs().reshape(-1).double()
                       for w, w0 in zip(ws, w0s)])
    survivors = diffs[after > 0]
    assert torch.equal(after[after > 0], survivors)
    if kept:  # the survivors are the largest changes
        assert survivors.min() >= diffs.topk(kept).values.min()


@pytest.mark.parametrize('kind', FUSED_KINDS)
@pytest.mark.parametrize('selection', ['sample', 'histogram'])
def test_budget_breaks_ties_by_position(kind, selection):
    # Adam's first step moves every weight by the same lr: all changes tie
    ws, w0s = _tensor_set(kind)
    for w, w0 in zip(ws, w0s):
        w0.copy_(torch.round(w0 * 8) / 8)
        w.copy_(w0 + 0.25)  # exact in every dtype: ties everywhere
    proj = FusedProjection(ws, w0s)
    proj._force_histogram = selection == 'histogram'
    kept, tau = proj.project_to_budget(1000)
    assert kept == 1000 == proj.count_changed() and tau == 0.25
    flat = torch.cat([(w != w0).reshape(-1) for w, w0 in zip(ws, w0s)])
    if kind != 'fp32_transposed':  # the first 1000 by memory position
        assert flat[:1000].all() and not flat[1000:].any()


def test_budget_keeps_everything_when_allowed():
    ws, w0s = _tensor_set('fp32')
    before = [w.clone() for w in ws]
    proj = FusedProjection(ws, w0s)
    assert proj.project_to_budget(proj.numel)[1] == -1.
    assert all(torch.equal(w, b) for w, b in zip(ws, before))


def test_budget_zero_keeps_nothing():
    ws, w0s = _tensor_set('fp32')
    proj = FusedProjection(ws, w0s)
    assert proj.project_to_budget(0)[0] == 0
    for w, w0 in zip(ws, w0s):
        assert torch.equal(w, w0)


def test_fused_projection_follows_a_replaced_storage():
    ws, w0s = _tensor_set('fp32')
    params = [torch.nn.Parameter(w) for w in ws]
    proj = FusedProjection(params, w0s)
    proj.count_changed()  # caches views of the current storages
    params[0].data = params[0].data.clone() + 1.
    assert proj.project(0.5) > 0
    assert torch.equal(params[0].data, ws[0] + 1.)  # moved by 1 > tau
    assert proj.project(INF) == 0
    assert torch.equal(params[0].data, w0s[0])


@pytest.mark.parametrize('kind', FUSED_KINDS)
@pytest.mark.parametrize('bad', [float('nan'), INF, -INF])
def test_non_finite_weights_are_counted_by_every_pass(kind, bad):
    ws, w0s = _tensor_set(kind)
    proj = FusedProjection(ws, w0s)
    proj.project(1e-3)
    assert proj.non_finite == 0
    ws[2][0, 5] = bad
    ws[3][1, 7] = bad
    proj.count_changed()
    assert proj.non_finite == 2
    proj.project(1e-3)
    assert proj.non_finite == 2
    proj.project_to_budget(100)
    assert proj.non_finite == 2


# --------------------------------------------------------------------------
# the torch path (CUDA, half precision, strided) == the numba path, bit for
# bit, with one host read per call
# --------------------------------------------------------------------------
def _both_paths(seed=0, ties=False):
    """The same fp32 tensor set twice: numba path and forced torch path."""
    ws, w0s = _tensor_set('fp32', seed=seed)
    ws[0][0, 0], w0s[0][0, 0] = 0., -0.  # a signed zero that snaps back
    if ties:
        for w, w0 in zip(ws, w0s):
            w0.copy_(torch.round(w0 * 8) / 8)
            w.copy_(w0 + 0.25)
        ws[3][0, :7] += 0.25  # a few larger changes above the tie
    twins = [w.clone() for w in ws]
    numba = FusedProjection(ws, w0s)
    torch_path = FusedProjection(twins, w0s, backend='torch')
    assert numba._fused and not torch_path._fused
    return (numba, ws), (torch_path, twins)


def _bits(ts):
    return [t.view(torch.int32) for t in ts]


def _assert_bit_identical(a, b):
    assert all(torch.equal(x, y) for x, y in zip(_bits(a), _bits(b)))


@pytest.mark.parametrize(
    'tau', [0., 3e-4, [0., 3e-4, INF, 1e-3]],
    ids=['zero', 'scalar', 'per_tensor'])
def test_torch_path_threshold_is_bit_identical_to_numba(tau):
    (numba, ws), (torch_path, twins) = _both_paths()
    bufs = [torch.ones(w.shape) for w in ws]
    bufs[1] = None
    twin_bufs = [None if b is None else b.clone() for b in bufs]
    assert numba.project(tau, bufs) == torch_path.project(tau, twin_bufs)
    _assert_bit_identical(ws, twins)
    _assert_bit_identical([b for b in bufs if b is not None],
                          [b for b in twin_bufs if b is not None])
    assert numba.count_changed() == torch_path.count_changed()


@pytest.mark.parametrize('ties', [False, True], ids=['distinct', 'ties'])
@pytest.mark.parametrize('fraction', [0., 0.0001, 0.01, 0.3, 0.9])
def test_torch_path_budget_is_bit_identical_to_numba(fraction, ties):
    (numba, ws), (torch_path, twins) = _both_paths(seed=3, ties=ties)
    keep = int(fraction * numba.numel)
    bufs = [torch.ones(w.shape) for w in ws]
    twin_bufs = [b.clone() for b in bufs]
    kept, tau = numba.project_to_budget(keep, bufs)
    assert torch_path.project_to_budget(keep, twin_bufs) == (kept, tau)
    _assert_bit_identical(ws, twins)
    _assert_bit_identical(bufs, twin_bufs)
    if ties and keep > 7:  # the tie at 0.25 is split by position
        assert tau == 0.25 and kept == keep


@pytest.mark.parametrize('bad', [float('nan'), INF, -INF])
def test_torch_path_counts_non_finite_entries_like_numba(bad):
    (numba, ws), (torch_path, twins) = _both_paths()
    for tensors in (ws, twins):
        tensors[2][0, 5] = bad
        tensors[3][1, 7] = bad
    for call in (lambda p: p.count_changed(), lambda p: p.project(1e-3),
                 lambda p: p.project_to_budget(100)):
        call(numba)
        call(torch_path)
        assert numba.non_finite == torch_path.non_finite == 2


def test_torch_path_handles_every_layout_and_mixed_dtypes():
    cases = [_make_case(k, seed=i) for i, k in enumerate(KINDS)]
    ws, w0s = [w for w, _ in cases], [w0 for _, w0 in cases]
    expect = [_reference(w, w0, 3e-4) for w, w0 in cases]
    proj = FusedProjection(ws, w0s, backend='torch')
    assert len(proj._groups) == 3  # fp32, fp64, bf16
    kept = proj.project(3e-4)
    assert all(torch.equal(w, e) for w, e in zip(ws, expect))
    assert kept == sum(int((w != w0).sum()) for w, w0 in cases)
    kept, _ = proj.project_to_budget(50)
    assert kept == 50 == proj.count_changed()


def test_torch_path_reads_the_host_once_per_call():
    from mmvlpuda.utils.host_sync import HostSyncCounter
    ws, w0s = _tensor_set('fp32')
    ws = ws + [w.clone() for w in ws]  # 8 tensors
    w0s = w0s + [w0.clone() for w0 in w0s]
    proj = FusedProjection(ws, w0s, backend='torch')
    taus = [1e-3] * 4 + [INF] * 4
    proj.project(taus)  # builds the per-entry tau once (cached)
    for call in (lambda: proj.project(1e-3), lambda: proj.project(taus),
                 lambda: proj.project_to_budget(100),
                 lambda: proj.count_changed()):
        with HostSyncCounter() as syncs:
            call()
        assert syncs.reads == 1 and syncs.transfers == 0, syncs.calls


def test_unknown_backend_is_a_one_line_error():
    ws, w0s = _tensor_set('fp32')
    with pytest.raises(ValueError, match="backend must be one of"):
        FusedProjection(ws, w0s, backend='triton')
