"""``MergedGroupsOptimWrapperConstructor``: the same update as mmengine's
default constructor with one param group per distinct setting (the
official ``get_parameters()`` has two: backbone and head)."""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmvlpuda  # noqa: F401

CFG = dict(
    optimizer=dict(
        type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'task_head': dict(lr_mult=10.)}))


def _model():
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.backbone = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 8))
    model.task_head = torch.nn.Linear(8, 3)
    return model


def _build(model, constructor=None):
    init_default_scope('mmvlpuda')
    cfg = copy.deepcopy(CFG)
    if constructor is not None:
        cfg['constructor'] = constructor
    return build_optim_wrapper(model, cfg)


def _train(model, wrapper, steps=3):
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(1))
    y = torch.arange(16) % 3
    for _ in range(steps):
        out = model.task_head(model.backbone(x))
        wrapper.update_params(torch.nn.functional.cross_entropy(out, y))


def test_two_groups_and_identical_updates():
    default_model, merged_model = _model(), _model()
    default = _build(default_model)
    merged = _build(merged_model, 'MergedGroupsOptimWrapperConstructor')
    assert len(default.optimizer.param_groups) == 8
    groups = merged.optimizer.param_groups
    assert [g['lr'] for g in groups] == [0.1, 1.0]
    assert [len(g['params']) for g in groups] == [6, 2]
    _train(default_model, default)
    _train(merged_model, merged)
    for (name, a), b in zip(default_model.state_dict().items(),
                            merged_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_state_round_trips_and_an_old_layout_is_a_clear_error():
    model = _model()
    merged = _build(model, 'MergedGroupsOptimWrapperConstructor')
    _train(model, merged, steps=1)
    again = _build(_model(), 'MergedGroupsOptimWrapperConstructor')
    again.load_state_dict(merged.state_dict())
    assert len(again.optimizer.state) == 8

    old = _build(_model())  # one group per parameter
    with pytest.raises(
            ValueError,
            match='8 param groups.*'
            'constructor=DefaultOptimWrapperConstructor'):
        again.load_state_dict(old.state_dict())
