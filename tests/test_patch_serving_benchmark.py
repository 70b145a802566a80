"""benchmarks/patch_serving.py on a tiny conv+BN model with 3 domains: the
store's switches are bit-exact and patches are smaller than checkpoints."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn

from conftest import REPO_ROOT


@pytest.fixture(scope='module')
def bench():
    path = osp.join(REPO_ROOT, 'benchmarks', 'patch_serving.py')
    spec = importlib.util.spec_from_file_location('patch_serving', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3)).eval()


def test_switches_bit_exact_and_patches_smaller(bench, tmp_path):
    model = tiny()
    base_sd = {k: v.clone() for k, v in model.state_dict().items()}
    domains = bench.make_domains(base_sd, 3, 0.05)
    # every floating tensor changed, BN running stats included
    for sd in domains:
        for name, t in sd.items():
            assert torch.equal(
                t, base_sd[name]) == (not t.is_floating_point()), name
    r = bench.run(
        model, base_sd, domains, str(tmp_path), rounds=2, arch='tiny')
    assert r['verified'] == 3
    assert set(r['ms']) == {
        'PatchStore.activate', 'torch.load + load_state_dict',
        'load_state_dict from RAM'
    }
    assert all(ms > 0 for ms in r['ms'].values())
    assert 0 < r['patch_bytes'] < r['dense_bytes']
    # independently of run()'s own check: reload the patches and switch
    store = bench.load_store(
        model, [str(tmp_path / f'domain{i}.patch') for i in range(3)])
    for i in (2, 0, 1, 2):
        store.activate(f'domain{i}')
        bench.check_bit_exact(model, domains[i], f'domain{i}')
        for name, t in model.state_dict().items():
            assert t.view(-1).view(torch.uint8).equal(
                domains[i][name].view(-1).view(torch.uint8)), name
    store.activate(None)
    bench.check_bit_exact(model, base_sd, 'base')


def test_check_bit_exact_catches_a_difference(bench):
    model = tiny()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    bench.check_bit_exact(model, sd, 'same')
    sd['1.running_var'].view(-1)[3] = torch.nextafter(
        sd['1.running_var'].view(-1)[3], torch.tensor(2.0))
    with pytest.raises(AssertionError, match='running_var'):
        bench.check_bit_exact(model, sd, 'changed')
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd['0.bias'].view(-1)[0] = 0.0
    model.state_dict()['0.bias'].view(-1)[0] = -0.0  # == 0.0, other bits
    with pytest.raises(AssertionError, match='0.bias'):
        bench.check_bit_exact(model, sd, '-0.0 vs 0.0')
