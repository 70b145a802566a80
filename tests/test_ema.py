"""EMA teacher of the UDA segmentors (mmvlpuda.models.segmentors.ema):
DAFormer's warm-up momentum, parameter-only update, teacher without
dropout / drop-path."""
import copy

import pytest
import torch
import torch.nn as nn

import mmvlpuda  # noqa: F401  (installs compatibility shims, registers)
from mmvlpuda.models.segmentors.ema import (disable_drop_, update_ema_,
                                            warmup_momentum)


@pytest.mark.parametrize('iteration,ema_momentum,expected',
                         [(0, 0.99, 0.), (1, 0.99, 0.5), (9, 0.99, 0.9),
                          (99, 0.999, 0.99), (5000, 0.99, 0.99)])
def test_warmup_momentum(iteration, ema_momentum, expected):
    assert warmup_momentum(iteration, ema_momentum) == pytest.approx(expected)


def _nets():
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    student[1].running_mean.fill_(1.)
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.data.normal_()
    teacher[1].running_mean.fill_(-5.)
    teacher[1].num_batches_tracked.fill_(7)
    return teacher, student


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_update_ema_rule_on_parameters_only():
    teacher, student = _nets()
    student_before = _state(student)
    assert update_ema_(teacher, student, 0, 0.99) == 0.
    for ema_p, p in zip(teacher.parameters(), student.parameters()):
        assert torch.equal(ema_p, p)

    for p in student.parameters():
        p.data.add_(1.)
    old = [p.clone() for p in teacher.parameters()]
    assert update_ema_(teacher, student, 1, 0.99) == 0.5
    for ema_p, o, p in zip(teacher.parameters(), old, student.parameters()):
        assert torch.allclose(ema_p, 0.5 * o + 0.5 * p)

    old = [p.clone() for p in teacher.parameters()]
    assert update_ema_(teacher, student, 500, 0.99) == 0.99
    for ema_p, o, p in zip(teacher.parameters(), old, student.parameters()):
        assert torch.allclose(ema_p, 0.99 * o + 0.01 * p)
        assert ema_p.grad_fn is None

    # buffers untouched, student unchanged apart from our own +1
    assert torch.all(teacher[1].running_mean == -5.)
    assert teacher[1].num_batches_tracked.item() == 7
    assert torch.equal(student[1].running_mean,
                       student_before['1.running_mean'])


def test_update_ema_requires_same_structure():
    teacher, student = _nets()
    swapped = nn.Sequential(teacher[1], teacher[0])  # same names, new shapes
    with pytest.raises(AssertionError, match='shape'):
        update_ema_(swapped, student, 3, 0.99)
    renamed = nn.Sequential()
    renamed.add_module('fc', teacher[0])
    renamed.add_module('bn', teacher[1])
    with pytest.raises(AssertionError, match='mismatch'):
        update_ema_(renamed, student, 3, 0.99)
    with pytest.raises(AssertionError, match='different parameters'):
        update_ema_(teacher[0], student, 3, 0.99)


def test_teacher_drop_off_by_class_not_by_name():
    """Dropout and mmcv's / timm's DropPath go to eval mode (DAFormer
    ``isinstance(m, DropPath)``); BN stays in train mode; a module merely
    NAMED DropPath is left alone."""
    from mmcv.cnn.bricks.drop import DropPath
    from timm.layers import DropPath as TimmDropPath

    class NotDropPath(nn.Identity):
        pass

    NotDropPath.__name__ = 'DropPath'
    model = nn.Sequential(
        nn.Dropout(0.5), DropPath(0.1), TimmDropPath(0.1), nn.BatchNorm2d(2),
        NotDropPath()).train()
    assert disable_drop_(model) is model
    assert [m.training for m in model] == [False, False, False, True, True]
