"""Behavioural tests of the inverse-decay parameter schedulers.

lr_t = lr_0 * (1 + gamma * t) ** -power, stepped per iteration.
"""
import math

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import LinearLR

import mmvlpuda  # noqa: F401  (installs compatibility shims, registers)
from mmvlpuda.engine.schedulers.inverse_decay import (
    InverseDecayLR, InverseDecayParamScheduler)
from mmvlpuda.registry import PARAM_SCHEDULERS

GAMMA, POWER = 3e-4, 0.75
BASE_LRS = (1.0, 10.0)


def _factor(t, gamma=GAMMA, power=POWER):
    return (1. + gamma * t)**(-power)


def _optimizer(lrs=BASE_LRS, **kwargs):
    groups = [
        dict(params=[torch.nn.Parameter(torch.zeros(2))], lr=lr) for lr in lrs
    ]
    return torch.optim.SGD(groups, lr=lrs[0], **kwargs)


def _lrs(optimizer):
    return [g['lr'] for g in optimizer.param_groups]


def _run(optimizer, schedulers, n):
    for _ in range(n):
        optimizer.step()
        for s in schedulers:
            s.step()


def test_reference_factors():
    assert _factor(0) == 1.
    assert _factor(1000) == pytest.approx(0.821, abs=1e-3)
    assert _factor(10000) == pytest.approx(0.354, abs=1e-3)
    assert _factor(10000) == pytest.approx(4**-0.75)


@pytest.mark.parametrize('t', [0, 1, 2, 1000])
def test_lr_follows_inverse_decay_for_every_group(t):
    opt = _optimizer()
    sched = InverseDecayLR(opt, gamma=GAMMA, power=POWER, by_epoch=False)
    _run(opt, [sched], t)
    expected = [base * _factor(t) for base in BASE_LRS]
    assert _lrs(opt) == pytest.approx(expected, rel=1e-9)
    # the lr_mult between groups is preserved
    lr0, lr1 = _lrs(opt)
    assert lr1 / lr0 == pytest.approx(10., rel=1e-9)
    assert sched.get_last_value() == pytest.approx(expected, rel=1e-9)


def test_lr_at_10000_iterations():
    opt = _optimizer()
    sched = InverseDecayLR(opt, gamma=GAMMA, power=POWER, by_epoch=False)
    _run(opt, [sched], 10000)
    assert _lrs(opt) == pytest.approx([1. * 4**-0.75, 10. * 4**-0.75],
                                      rel=1e-8)
    assert _lrs(opt)[0] == pytest.approx(0.354, abs=1e-3)


def test_lr_strictly_decreasing():
    opt = _optimizer()
    sched = InverseDecayLR(opt, gamma=GAMMA, power=POWER, by_epoch=False)
    seen = [_lrs(opt)[0]]
    for _ in range(50):
        _run(opt, [sched], 1)
        seen.append(_lrs(opt)[0])
    assert all(a > b for a, b in zip(seen, seen[1:]))


def test_defaults_are_official_values():
    opt = _optimizer()
    sched = InverseDecayLR(opt, by_epoch=False)
    _run(opt, [sched], 1000)
    assert _lrs(opt) == pytest.approx([b * _factor(1000) for b in BASE_LRS],
                                      rel=1e-9)


def test_other_gamma_and_power():
    opt = _optimizer()
    sched = InverseDecayLR(opt, gamma=0.01, power=0.5, by_epoch=False)
    _run(opt, [sched], 300)
    # (1 + 0.01 * 300) ** -0.5 = 4 ** -0.5 = 0.5
    assert _lrs(opt) == pytest.approx([0.5, 5.0], rel=1e-9)


def test_zero_gamma_keeps_lr_constant():
    opt = _optimizer()
    sched = InverseDecayLR(opt, gamma=0., power=POWER, by_epoch=False)
    _run(opt, [sched], 25)
    assert _lrs(opt) == pytest.approx(list(BASE_LRS))


@pytest.mark.parametrize(
    'kwargs',
    [dict(gamma=-1e-4),
     dict(power=-0.75),
     dict(gamma=-1., power=-1.)])
def test_negative_gamma_or_power_raises(kwargs):
    opt = _optimizer()
    with pytest.raises(ValueError, match='gamma'):
        InverseDecayLR(opt, by_epoch=False, **kwargs)


def test_begin_offsets_the_counter():
    opt = _optimizer()
    sched = InverseDecayLR(
        opt, gamma=GAMMA, power=POWER, begin=5, by_epoch=False)
    _run(opt, [sched], 5)
    assert _lrs(opt) == pytest.approx(list(BASE_LRS))
    _run(opt, [sched], 1000)
    # t counted from begin
    assert _lrs(opt) == pytest.approx([b * _factor(1000) for b in BASE_LRS],
                                      rel=1e-9)


def test_end_freezes_lr():
    opt = _optimizer()
    sched = InverseDecayLR(
        opt, gamma=GAMMA, power=POWER, end=100, by_epoch=False)
    _run(opt, [sched], 150)
    # last update happens at step end - 1
    assert _lrs(opt) == pytest.approx([b * _factor(99) for b in BASE_LRS],
                                      rel=1e-9)


def test_build_from_registry():
    opt = _optimizer()
    sched = PARAM_SCHEDULERS.build(
        dict(type='InverseDecayLR', gamma=GAMMA, power=POWER, by_epoch=False),
        default_args=dict(optimizer=opt))
    assert isinstance(sched, InverseDecayLR)
    _run(opt, [sched], 1000)
    assert _lrs(opt) == pytest.approx([b * _factor(1000) for b in BASE_LRS],
                                      rel=1e-9)


def test_build_generic_scheduler_from_registry_on_momentum():
    opt = _optimizer(momentum=0.9)
    sched = PARAM_SCHEDULERS.build(
        dict(
            type='InverseDecayParamScheduler',
            param_name='momentum',
            gamma=0.01,
            power=1.,
            by_epoch=False),
        default_args=dict(optimizer=opt))
    assert isinstance(sched, InverseDecayParamScheduler)
    _run(opt, [sched], 100)
    # (1 + 0.01 * 100) ** -1 = 0.5; lr untouched
    assert [g['momentum']
            for g in opt.param_groups] == pytest.approx([0.45, 0.45], rel=1e-9)
    assert _lrs(opt) == pytest.approx(list(BASE_LRS))


def test_works_with_optim_wrapper():
    opt = _optimizer()
    wrapper = OptimWrapper(opt)
    sched = InverseDecayLR(wrapper, gamma=GAMMA, power=POWER, by_epoch=False)
    _run(wrapper, [sched], 1000)
    assert _lrs(opt) == pytest.approx([b * _factor(1000) for b in BASE_LRS],
                                      rel=1e-9)
    assert wrapper.get_lr()['lr'][:2] == pytest.approx(_lrs(opt))


def test_chained_after_linear_warmup():
    warm = 10
    opt = _optimizer()
    linear = LinearLR(opt, start_factor=0.1, end=warm, by_epoch=False)
    inv = InverseDecayLR(opt, gamma=GAMMA, power=POWER, by_epoch=False)
    # step 0: warm-up factor only
    assert _lrs(opt) == pytest.approx([0.1 * b for b in BASE_LRS], rel=1e-9)
    _run(opt, [linear, inv], 4)
    # mmengine's LinearLR reaches end_factor at step end - 1
    warm_factor = 0.1 + 0.9 * 4 / (warm - 1)
    assert _lrs(opt) == pytest.approx(
        [b * warm_factor * _factor(4) for b in BASE_LRS], rel=1e-9)
    _run(opt, [linear, inv], 500 - 4)
    # after the warm-up the product form reduces to the plain decay
    assert _lrs(opt) == pytest.approx([b * _factor(500) for b in BASE_LRS],
                                      rel=1e-9)


def test_official_schedule_config_builds():
    """The schedule of configs/_base_/schedules/sgd_invdecay_10k.py."""
    import os

    from mmengine.config import Config
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = Config.fromfile(
        os.path.join(root, 'configs', '_base_', 'schedules',
                     'sgd_invdecay_10k.py'))
    (sched_cfg, ) = cfg.param_scheduler
    opt = _optimizer()
    sched = PARAM_SCHEDULERS.build(sched_cfg, default_args=dict(optimizer=opt))
    _run(opt, [sched], cfg.train_cfg.max_iters)
    assert _lrs(opt) == pytest.approx([b * _factor(10000) for b in BASE_LRS],
                                      rel=1e-8)
    assert math.isclose(_lrs(opt)[0], 4**-0.75, rel_tol=1e-8)


def test_decay_starting_after_warmup_counts_from_begin():
    """Typical config: LinearLR over [0, warm), decay with begin=warm."""
    warm = 10
    opt = _optimizer()
    linear = LinearLR(opt, start_factor=0.1, end=warm, by_epoch=False)
    inv = InverseDecayLR(
        opt, gamma=GAMMA, power=POWER, begin=warm, by_epoch=False)
    _run(opt, [linear, inv], warm)
    # warm-up finished, decay not started yet
    assert _lrs(opt) == pytest.approx(list(BASE_LRS), rel=1e-9)
    _run(opt, [linear, inv], 1000)
    assert _lrs(opt) == pytest.approx([b * _factor(1000) for b in BASE_LRS],
                                      rel=1e-9)
