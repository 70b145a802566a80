"""Sparse residual patches: make/save/load/apply/remove and PatchStore."""
import os
import re
import runpy
import sys

import pytest
import torch
import torch.nn as nn
from safetensors.torch import save as st_save

import mmvlpuda  # noqa: F401  (compat fixes before other mmvlpuda imports)
from conftest import REPO_ROOT
from mmvlpuda.sparse import (FORMAT, Patch, PatchError, PatchStore,
                             apply_patch, make_patch, remove_patch)

DENSE = ('task_head', )
HEAD = {'task_head.weight', 'task_head.bias'}
# tensors make_trained() changes outside the task head
PERTURBED = {
    'backbone.0.weight', 'backbone.0.bias', 'backbone.1.weight',
    'backbone.1.running_mean', 'backbone.1.running_var', 'backbone.3.weight',
    'fc.weight', 'logit_scale'
}
# (w0, w) pairs whose residual w - w0 does not round back: w0 + (w - w0) != w
# in float32 (three of them are sign flips)
TRICKY = [(1.0, 1e-8), (1.0, -1e-8), (1.5, -1e-30), (-3.0, 2e-9),
          (0.75, 3e-10)]
# (w0, w) pairs of a base weight near zero that grows: w0 + (w - w0) == w,
# but w - (w - w0) != w0 in float32
NEAR_ZERO = [(1.2345e-6, 1e-2), (3e-7, -2e-3), (-1.1e-5, 0.07)]


class Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, bias=False))
        self.fc = nn.Linear(64, 32)
        self.frozen = nn.Linear(8, 8)  # never changes
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))  # 0-d, as CLIP
        self.task_head = nn.Linear(32, 5)


def make_base():
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        flat = net.backbone[3].weight.view(-1)
        for i, (w0, _) in enumerate(TRICKY):
            flat[10 * i] = w0
        flat = net.fc.weight.view(-1)
        for i, (w0, _) in enumerate(NEAR_ZERO):
            flat[100 + 10 * i] = w0
    return net


def base_state():
    return clone_state(make_base())


def clone_state(model_or_sd):
    sd = model_or_sd.state_dict() if isinstance(model_or_sd,
                                                nn.Module) else model_or_sd
    return {k: v.detach().clone() for k, v in sd.items()}


@torch.no_grad()
def make_trained(seed=1,
                 names=None,
                 density=0.05,
                 tricky=True,
                 near_zero=True):
    """A fine-tuned copy of the base: a sparse set of changed entries in
    ``names`` (default PERTURBED), a fully retrained task head."""
    net = make_base()
    g = torch.Generator().manual_seed(seed)
    state = net.state_dict()
    for name in sorted(PERTURBED if names is None else names):
        t = state[name]
        flat = t.view(-1)
        mask = torch.rand(flat.shape, generator=g) < density
        mask[0] = True
        delta = torch.randn(flat.shape, generator=g) * 1e-3
        delta[delta == 0] = 1e-3
        flat[mask] += delta[mask]
    if tricky and (names is None or 'backbone.3.weight' in names):
        flat = net.backbone[3].weight.view(-1)
        for i, (_, w) in enumerate(TRICKY):
            flat[10 * i] = w
    if near_zero and (names is None or 'fc.weight' in names):
        flat = net.fc.weight.view(-1)
        for i, (_, w) in enumerate(NEAR_ZERO):
            flat[100 + 10 * i] = w
    net.task_head.weight.copy_(torch.randn(5, 32, generator=g))
    net.task_head.bias.copy_(torch.randn(5, generator=g))
    return net


def bits(t):
    t = t.detach().contiguous().reshape(-1)
    return t.view(torch.uint8) if t.is_floating_point() else t


def assert_state_equal(model, expected, names=None, msg=''):
    """Every tensor (or those in ``names``) bit-identical to ``expected``."""
    state = model.state_dict()
    names = sorted(expected) if names is None else sorted(names)
    assert set(names) <= set(state)
    for name in names:
        got, want = state[name], expected[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert torch.equal(got, want), f'{msg} {name} differs'
        assert torch.equal(bits(got), bits(want)), f'{msg} {name} bits differ'


def test_tricky_entries_do_not_round_trip_through_the_residual():
    # premise of test_save_load_apply_is_bit_exact
    w0 = torch.tensor([a for a, _ in TRICKY])
    w = torch.tensor([b for _, b in TRICKY])
    assert bool((w0 + (w - w0) != w).all())


def test_near_zero_entries_do_not_round_trip_backwards():
    # premise of test_remove_on_model_loaded_already_patched
    w0 = torch.tensor([a for a, _ in NEAR_ZERO])
    w = torch.tensor([b for _, b in NEAR_ZERO])
    assert bool((w0 + (w - w0) == w).all())
    assert bool((w - (w - w0) != w0).all())


def test_save_load_apply_is_bit_exact(tmp_path):
    base_sd, trained = base_state(), make_trained()
    trained_sd = clone_state(trained)
    patch = make_patch(trained, base_sd, dense=DENSE, arch='toy', tau=1e-6)
    path = str(tmp_path / 'toy.patch')
    patch.save(path)
    loaded = Patch.load(path)
    for p in (patch, loaded):
        model = make_base()
        apply_patch(model, p)
        assert_state_equal(model, trained_sd)
    # applying the loaded patch leaves the trained model's tensors alone
    assert_state_equal(trained, trained_sd)


def test_apply_from_state_dict_patch(tmp_path):
    base_sd, trained = base_state(), make_trained(seed=2)
    patch = make_patch(trained.state_dict(), base_sd, dense=DENSE)
    patch.save(str(tmp_path / 'p'))
    model = make_base()
    apply_patch(model, Patch.load(str(tmp_path / 'p')))
    assert_state_equal(model, clone_state(trained))


def test_remove_right_after_apply_restores_base():
    base_sd = base_state()
    patch = make_patch(make_trained(), base_sd, dense=DENSE)
    model = make_base()
    apply_patch(model, patch)
    remove_patch(model, patch)
    assert_state_equal(model, base_sd)
    # and it can be applied again
    apply_patch(model, patch)
    assert_state_equal(model, clone_state(make_trained()))
    remove_patch(model, patch)
    assert_state_equal(model, base_sd)


@pytest.mark.parametrize(
    'near_zero', [False, True], ids=['ordinary', 'base_near_zero'])
def test_remove_on_model_loaded_already_patched(tmp_path, near_zero):
    """No undo record: the base is recomputed from the patch. With
    ``near_zero`` some base weights are tiny next to their residual (a
    near-zero pretrained weight that grows during fine-tuning)."""
    base_sd, trained = base_state(), make_trained(near_zero=near_zero)
    patch = make_patch(trained, base_sd, dense=DENSE)
    patch.save(str(tmp_path / 'p'))
    patch = Patch.load(str(tmp_path / 'p'))
    model_a = make_base()
    apply_patch(model_a, patch)
    model_b = Net()
    model_b.load_state_dict(model_a.state_dict())
    remove_patch(model_b, patch)
    # the dense head's base values are not in the patch; every other
    # tensor must be back at the base bit-exactly
    assert_state_equal(model_b, base_sd, names=set(base_sd) - HEAD)


def test_remove_from_a_model_not_patched_raises_and_leaves_it():
    base_sd = base_state()
    patch = make_patch(make_trained(), base_sd, dense=DENSE)
    model = make_base()
    before = clone_state(model)
    with pytest.raises(PatchError):
        remove_patch(model, patch)
    assert_state_equal(model, before)


def test_apply_to_a_different_base_raises_and_leaves_model_unchanged():
    base_sd = base_state()
    patch = make_patch(make_trained(), base_sd, dense=DENSE, arch='toy')
    for name in ('fc.weight', 'backbone.1.running_var', 'logit_scale'):
        model = make_base()
        with torch.no_grad():
            t = model.state_dict()[name].view(-1)
            t[-1] = torch.nextafter(t[-1], torch.tensor(float('inf')))
        before = clone_state(model)
        with pytest.raises(PatchError, match='base'):
            apply_patch(model, patch)
        assert_state_equal(model, before, msg=f'perturbed {name}:')


def test_apply_to_a_model_of_another_shape_raises():
    base_sd = base_state()
    patch = make_patch(make_trained(), base_sd, dense=DENSE)
    model = make_base()
    model.fc = nn.Linear(64, 31)
    before = clone_state(model)
    with pytest.raises(PatchError, match='fc.weight'):
        apply_patch(model, patch)
    assert_state_equal(model, before)


def test_apply_twice_raises_and_leaves_model_unchanged():
    base_sd = base_state()
    patch = make_patch(make_trained(), base_sd, dense=DENSE)
    model = make_base()
    apply_patch(model, patch)
    patched = clone_state(model)
    with pytest.raises(PatchError):
        apply_patch(model, patch)
    assert_state_equal(model, patched)
    remove_patch(model, patch)  # the failed apply did not break removal
    assert_state_equal(model, base_sd)


# reading damaged files -------------------------------------------------------
@pytest.fixture
def saved_patch(tmp_path):
    patch = make_patch(make_trained(), base_state(), dense=DENSE, arch='toy')
    path = tmp_path / 'good.patch'
    patch.save(str(path))
    data = path.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], 'little')
    assert header_end < len(data)
    return data, header_end


def _load_raises(path, data):
    path.write_bytes(bytes(data))
    with pytest.raises(PatchError) as info:
        Patch.load(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    'cut', ['last_byte', 'half_payload', 'in_header', 'first_bytes'])
def test_truncated_file_raises(tmp_path, saved_patch, cut):
    data, header_end = saved_patch
    keep = dict(
        last_byte=len(data) - 1,
        half_payload=(header_end + len(data)) // 2,
        in_header=header_end // 2,
        first_bytes=5)[cut]
    _load_raises(tmp_path / 'cut.patch', data[:keep])


@pytest.mark.parametrize('where', [0.0, 0.1, 0.5, 0.9, 1.0])
def test_corrupted_payload_raises(tmp_path, saved_patch, where):
    data, header_end = saved_patch
    i = min(header_end + int(where * (len(data) - header_end)), len(data) - 1)
    bad = bytearray(data)
    bad[i] ^= 0x10
    _load_raises(tmp_path / 'flip.patch', bad)


def test_any_header_bit_flip_is_caught_or_harmless(tmp_path):
    """A flipped bit in the length prefix or the JSON header either makes
    ``Patch.load`` raise PatchError, or the patch still applies exactly
    (e.g. a flip inside ``arch``) or is refused by ``apply_patch``."""
    base_sd, trained = base_state(), make_trained()
    trained_sd = clone_state(trained)
    patch = make_patch(
        trained,
        base_sd,
        names=['fc.weight', 'logit_scale'],
        dense=DENSE,
        arch='toy')
    expected = dict(base_sd)
    for name in ['fc.weight', 'logit_scale', *HEAD]:
        expected[name] = trained_sd[name]
    data = patch.to_bytes()
    header_end = 8 + int.from_bytes(data[:8], 'little')
    path = tmp_path / 'flip.patch'
    outcomes = {'load_error': 0, 'apply_error': 0, 'exact': 0}
    for i in range(header_end):
        bad = bytearray(data)
        bad[i] ^= 0x01
        path.write_bytes(bytes(bad))
        try:
            loaded = Patch.load(str(path))
        except PatchError as e:
            assert str(path) in str(e)
            outcomes['load_error'] += 1
            continue
        model = make_base()
        try:
            apply_patch(model, loaded)
        except PatchError:
            assert_state_equal(model, base_sd, msg=f'byte {i}:')
            outcomes['apply_error'] += 1
        else:
            assert_state_equal(model, expected, msg=f'byte {i}:')
            outcomes['exact'] += 1
    # most flips are detected at load time; the rest did no harm above
    assert outcomes['load_error'] > header_end // 2


def test_missing_file_raises(tmp_path):
    path = tmp_path / 'nowhere' / 'missing.patch'
    with pytest.raises(PatchError) as info:
        Patch.load(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    'metadata', [
        None,
        dict(format='something-else', version='1', meta='{}'),
        dict(format=FORMAT, version='1', meta='{not json'),
        dict(format=FORMAT, version='1'),
        dict(format=FORMAT, version='one', meta='{}'),
        dict(format=FORMAT, version='2', meta='{}'),
    ],
    ids=[
        'no_metadata', 'other_format', 'meta_not_json', 'no_meta',
        'bad_version', 'newer_version'
    ])
def test_safetensors_file_that_is_not_a_patch_raises(tmp_path, metadata):
    data = st_save({'weight': torch.ones(3, 4)}, metadata=metadata)
    _load_raises(tmp_path / 'other.safetensors', data)


# which tensors, sizes, metadata ---------------------------------------------
def test_names_none_picks_exactly_the_changed_floating_tensors():
    base_sd, trained = base_state(), make_trained()
    with torch.no_grad():  # an integer buffer that differs is not picked
        trained.backbone[1].num_batches_tracked += 3
    patch = make_patch(trained, base_sd, dense=DENSE)
    assert set(patch.sparse) == PERTURBED
    assert set(patch.dense) == HEAD
    for name in HEAD:
        assert torch.equal(patch.dense[name], trained.state_dict()[name])
    # without a dense prefix the head is stored sparsely
    patch = make_patch(trained, base_sd)
    assert set(patch.sparse) == PERTURBED | HEAD and not patch.dense


def test_explicit_names():
    base_sd, trained = base_state(), make_trained()
    names = ['fc.weight', 'frozen.weight']  # frozen.weight is unchanged
    patch = make_patch(trained, base_sd, names=names, dense=DENSE)
    assert set(patch.sparse) == set(names)
    assert patch.sparse['frozen.weight'].nnz == 0
    model = make_base()
    apply_patch(model, patch)
    expected = dict(base_sd)
    for name in names + sorted(HEAD):
        expected[name] = trained.state_dict()[name]
    assert_state_equal(model, expected)


def test_explicit_names_missing_raise_key_error():
    base_sd, trained = base_state(), make_trained()
    with pytest.raises(KeyError, match='no_such.weight'):
        make_patch(trained, base_sd, names=['fc.weight', 'no_such.weight'])
    partial_base = dict(base_sd)
    del partial_base['fc.weight']
    with pytest.raises(KeyError, match='fc.weight'):
        make_patch(trained, partial_base, names=['fc.weight'])


def test_counts_size_and_metadata(tmp_path):
    base_sd, trained = base_state(), make_trained()
    trained_sd = clone_state(trained)
    patch = make_patch(trained, base_sd, dense=DENSE, arch='toy/RN', tau=1e-6)
    nnz = sum(int((trained_sd[n] != base_sd[n]).sum()) for n in PERTURBED)
    head = sum(trained_sd[n].numel() for n in HEAD)
    assert patch.nnz == nnz
    assert patch.dsp == nnz + head
    path = str(tmp_path / 'toy.patch')
    patch.save(path)
    assert patch.num_bytes == os.path.getsize(path)
    loaded = Patch.load(path)
    assert loaded.nnz == nnz and loaded.dsp == nnz + head
    assert loaded.num_bytes == os.path.getsize(path)
    assert loaded.meta['arch'] == 'toy/RN' and loaded.meta['tau'] == 1e-6
    # size is O(nnz): well below the dense size of the patched tensors
    dense_bytes = sum(4 * base_sd[n].numel() for n in PERTURBED | HEAD)
    assert patch.num_bytes < dense_bytes / 2
    # num_bytes without saving is the size the file will have
    fresh = make_patch(trained, base_sd, dense=DENSE, arch='toy/RN', tau=1e-6)
    assert fresh.num_bytes == os.path.getsize(path)


def test_save_is_atomic_and_replaces(tmp_path):
    base_sd = base_state()
    first = make_patch(make_trained(seed=1), base_sd, dense=DENSE, arch='one')
    second = make_patch(
        make_trained(seed=2, names=['fc.weight']),
        base_sd,
        dense=DENSE,
        arch='two')
    path = tmp_path / 'domain.patch'
    first.save(str(path))
    assert os.listdir(tmp_path) == ['domain.patch']
    second.save(str(path))
    assert os.listdir(tmp_path) == ['domain.patch']
    loaded = Patch.load(str(path))
    assert loaded.meta['arch'] == 'two'
    assert set(loaded.sparse) == {'fc.weight'}
    assert os.path.getsize(path) == second.num_bytes
    nested = tmp_path / 'a' / 'b' / 'x.patch'
    first.save(str(nested))
    assert os.listdir(nested.parent) == ['x.patch']


@pytest.mark.parametrize('value_dtype', ['float16', 'bfloat16'])
def test_lossy_value_dtype(tmp_path, value_dtype):
    base_sd = base_state()
    trained = make_trained()
    trained_sd = clone_state(trained)
    exact = make_patch(trained, base_sd, dense=DENSE)
    lossy = make_patch(trained, base_sd, dense=DENSE, value_dtype=value_dtype)
    exact.save(str(tmp_path / 'exact'))
    lossy.save(str(tmp_path / 'lossy'))
    assert lossy.nnz == exact.nnz
    assert (os.path.getsize(tmp_path / 'lossy')
            < os.path.getsize(tmp_path / 'exact'))
    lossy = Patch.load(str(tmp_path / 'lossy'))
    assert lossy.meta['value_dtype'] == value_dtype
    model = make_base()
    apply_patch(model, lossy)
    state = model.state_dict()
    rtol = 1e-2 if value_dtype == 'bfloat16' else 1e-3
    for name in PERTURBED:
        residual = trained_sd[name] - base_sd[name]
        got = state[name] - base_sd[name]
        assert torch.allclose(got, residual, rtol=rtol, atol=1e-6), name
    assert any(not torch.equal(state[n], trained_sd[n]) for n in PERTURBED)
    assert_state_equal(model, trained_sd, names=HEAD)  # dense stays exact
    remove_patch(model, lossy)
    assert_state_equal(model, base_sd)


@pytest.mark.parametrize('value_dtype', ['float64', 'int8', 'fp16', None])
def test_bad_value_dtype_raises(value_dtype):
    with pytest.raises(ValueError):
        make_patch(make_trained(), base_state(), value_dtype=value_dtype)


# PatchStore ------------------------------------------------------------------
def test_patch_store_switches_exactly(tmp_path):
    base_sd = base_state()
    trained_a = clone_state(make_trained(seed=1))
    trained_b = clone_state(
        make_trained(seed=2, names=['fc.weight', 'backbone.0.weight']))
    for key, sd in (('a', trained_a), ('b', trained_b)):
        make_patch(sd, base_sd, dense=DENSE).save(str(tmp_path / key))
    model = make_base()
    store = PatchStore(model)
    store.add('a', Patch.load(str(tmp_path / 'a')))
    store.add('b', Patch.load(str(tmp_path / 'b')))
    assert_state_equal(model, base_sd)  # adding does not touch the model
    for key, expected in (('a', trained_a), ('b', trained_b), ('a', trained_a),
                          (None, base_sd), ('b', trained_b), ('b', trained_b),
                          (None, base_sd), (None, base_sd)):
        store.activate(key)
        assert store.active == key
        assert_state_equal(model, expected, msg=f'after activate({key}):')


def test_patch_store_refuses_other_base_and_unknown_keys():
    base_sd = base_state()
    other_base = make_base()
    with torch.no_grad():
        other_base.fc.weight[0, 0] += 0.5
    other_sd = clone_state(other_base)
    trained_other = clone_state(other_base)
    trained_other['fc.weight'][1, 1] += 0.25
    foreign = make_patch(trained_other, other_sd, dense=DENSE)
    own = make_patch(make_trained(), base_sd, dense=DENSE)

    model = make_base()
    store = PatchStore(model)
    store.add('own', own)
    with pytest.raises(PatchError):
        store.add('foreign', foreign)
    with pytest.raises(KeyError):
        store.activate('foreign')
    assert_state_equal(model, base_sd)
    store.activate('own')
    with pytest.raises(KeyError, match='nope'):
        store.activate('nope')
    assert store.active == 'own'
    assert_state_equal(model, clone_state(make_trained()))


def test_patch_store_new_tensor_set_needs_the_base(tmp_path):
    base_sd = base_state()
    make_patch(
        clone_state(make_trained(seed=1)), base_sd,
        dense=DENSE).save(str(tmp_path / 'a'))
    make_patch(
        clone_state(make_trained(seed=2, names=['fc.weight'])),
        base_sd,
        dense=DENSE).save(str(tmp_path / 'b'))
    store = PatchStore(make_base())
    store.add('a', Patch.load(str(tmp_path / 'a')))
    store.activate('a')
    with pytest.raises(PatchError, match=r"'b'.*activate\(None\) first"):
        store.add('b', Patch.load(str(tmp_path / 'b')))
    store.activate(None)
    store.add('b', Patch.load(str(tmp_path / 'b')))
    assert set(store.patches) == {'a', 'b'}


# non-finite values: refused, named, nothing written or changed ---------------
NAN, INF = float('nan'), float('inf')


@pytest.mark.parametrize('where, name, what', [
    ('trained', 'fc.weight', 'trained tensor'),
    ('base', 'backbone.0.weight', 'base tensor'),
    ('dense', 'task_head.bias', 'dense tensor'),
])
def test_make_patch_refuses_non_finite_tensors(tmp_path, where, name, what):
    base_sd, trained = base_state(), clone_state(make_trained())
    target = base_sd if where == 'base' else trained
    target[name].view(-1)[1] = NAN
    target[name].view(-1)[3] = -INF
    with pytest.raises(PatchError) as info:
        make_patch(trained, base_sd, dense=DENSE)
    assert str(info.value).startswith(
        f'{what} `{name}` holds 2 NaN/Inf values (of '
        f'{target[name].numel():,}): no patch is made')


def _nan_patch(where):
    patch = make_patch(make_trained(), base_state(), dense=DENSE)
    if where == 'values':
        patch.sparse['fc.weight'].values[2] = NAN
        return patch, 'patch tensor `fc.weight` holds 1 NaN/Inf value'
    if where == 'exact_values':
        entry = patch.sparse['backbone.3.weight']
        assert entry.exact_values.numel()  # TRICKY entries
        entry.exact_values[0] = INF
        return patch, 'patch tensor `backbone.3.weight` holds 1 NaN/Inf'
    patch.dense['task_head.weight'][0, 0] = INF
    return patch, 'patch dense tensor `task_head.weight` holds 1 NaN/Inf'


@pytest.mark.parametrize('where', ['values', 'exact_values', 'dense'])
def test_apply_and_save_refuse_a_non_finite_patch(tmp_path, where):
    patch, expected = _nan_patch(where)
    model = make_base()
    with pytest.raises(
            PatchError, match=rf'^{re.escape(expected)}.*'
            'refusing to apply it$'):
        apply_patch(model, patch)
    assert_state_equal(model, base_state())  # untouched
    with pytest.raises(
            PatchError, match=rf'^{re.escape(expected)}.*'
            'nothing written$'):
        patch.save(str(tmp_path / 'x.patch'))
    assert os.listdir(tmp_path) == []  # no file, no temp file
    with pytest.raises(PatchError, match=r"refusing patch 'x'$"):
        PatchStore(make_base()).add('x', patch)


def test_a_patch_file_holding_nan_is_refused_at_apply(tmp_path):
    """A file written by another tool (or an older version) with a NaN."""
    patch, expected = _nan_patch('values')
    path = tmp_path / 'nan.patch'
    path.write_bytes(patch.to_bytes())  # bypasses save()'s check
    loaded = Patch.load(str(path))  # a valid file...
    model = make_base()
    with pytest.raises(PatchError, match=re.escape(expected)):
        apply_patch(model, loaded)  # ...that is never applied
    assert_state_equal(model, base_state())


def test_apply_refuses_a_non_finite_model():
    patch = make_patch(make_trained(), base_state(), dense=DENSE)
    model = make_base()
    with torch.no_grad():
        model.fc.weight[0, 0] = NAN
    before = {k: bits(v) for k, v in clone_state(model).items()}
    with pytest.raises(
            PatchError,
            match=r'^model tensor `fc.weight` holds 1 '
            'NaN/Inf value .*refusing to apply the patch$'):
        apply_patch(model, patch)
    for name, t in model.state_dict().items():  # bits: NaN != NaN
        assert torch.equal(bits(t), before[name]), name


def _export_patch(*argv):
    """tools/export_patch.py in-process: what it exits with (None: ok)."""
    old = sys.argv
    sys.argv = ['tools/export_patch.py', *map(str, argv)]
    try:
        runpy.run_path(
            os.path.join(REPO_ROOT, 'tools/export_patch.py'),
            run_name='__main__')
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = old
    return None


def _export(tmp_path, ckpt_sd, base_sd):
    torch.save({'state_dict': ckpt_sd, 'meta': {}}, str(tmp_path / 'c.pth'))
    torch.save(base_sd, str(tmp_path / 'base.pth'))
    out = tmp_path / 'out' / 'x.patch'
    return _export_patch(tmp_path / 'c.pth', tmp_path / 'base.pth', out), out


@pytest.mark.parametrize('where', ['trained', 'base'])
def test_export_patch_refuses_nan_and_writes_nothing(tmp_path, where):
    base_sd, trained = base_state(), clone_state(make_trained())
    (base_sd if where == 'base' else trained)['fc.weight'][0, 1] = NAN
    error, out = _export(tmp_path, trained, base_sd)
    reason = ('from a non-finite model'
              if where == 'trained' else 'against a non-finite base')
    assert error == (f'{tmp_path}/c.pth: {where} tensor `fc.weight` holds 1 '
                     f'NaN/Inf value (of 2,048): no patch is made {reason}')
    assert not out.parent.exists() or os.listdir(out.parent) == []


def test_export_patch_truncated_checkpoint_is_one_line(tmp_path):
    error, out = _export(tmp_path, clone_state(make_trained()), base_state())
    assert error is None and Patch.load(str(out)).nnz > 0
    data = (tmp_path / 'c.pth').read_bytes()
    (tmp_path / 'c.pth').write_bytes(data[:len(data) // 2])
    error = _export_patch(tmp_path / 'c.pth', 'from-ckpt',
                          tmp_path / 'y.patch')
    assert error.startswith(f'cannot read checkpoint {tmp_path}/c.pth (')
    assert '\n' not in error
    assert not (tmp_path / 'y.patch').exists()
