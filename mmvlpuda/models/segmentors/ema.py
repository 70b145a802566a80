"""EMA teacher of self-training segmentors (DACS, CMKD-seg).

Re-implements the teacher rules of DAFormer's ``mmseg/models/uda/dacs.py``
(Hoyer et al. 2022): ``_init_ema_weights`` / ``_update_ema`` (parameters
only, warm-up momentum) and the teacher's train mode without dropout or
drop-path in ``forward_train``.
"""
import torch
import torch.nn as nn
from mmcv.cnn.bricks.drop import DropPath as MMCVDropPath
from timm.layers import DropPath as TimmDropPath

#: module classes put in eval mode inside the train-mode teacher: torch's
#: dropouts, mmcv's ``DropPath`` (mmseg / mmdet / mmpretrain backbones and
#: heads) and timm's (DAFormer checks ``isinstance(m, DropPath)`` with it)
DROP_TYPES = (nn.modules.dropout._DropoutNd, MMCVDropPath, TimmDropPath)


def disable_drop_(model: nn.Module) -> nn.Module:
    """Switch off dropout and drop-path (:data:`DROP_TYPES`) in ``model``,
    leaving every other module's mode (BN keeps using the batch
    statistics): DAFormer's EMA teacher in ``DACS.forward_train``.

    Args:
        model (nn.Module): the teacher.

    Returns:
        nn.Module: ``model``.
    """
    for module in model.modules():
        if isinstance(module, DROP_TYPES):
            module.training = False
    return model


def warmup_momentum(iteration: int, ema_momentum: float) -> float:
    """EMA-teacher momentum with warm-up: DAFormer ``DACS._update_ema``,
    ``min(1 - 1 / (iteration + 1), ema_momentum)`` (0 at iteration 0, 0.5 at
    1, 0.9 at 9, then ``ema_momentum``).

    Args:
        iteration (int): training iteration (0-based).
        ema_momentum (float): final momentum (DAFormer ``alpha``: 0.99 /
            0.999).

    Returns:
        float: the momentum of the teacher's old weights.
    """
    return min(1. - 1. / (iteration + 1), ema_momentum)


@torch.no_grad()
def update_ema_(ema_model: nn.Module, model: nn.Module, iteration: int,
                ema_momentum: float) -> float:
    """In-place EMA-teacher update: DAFormer ``DACS._init_ema_weights`` /
    ``_update_ema``.

    ``ema = m * ema + (1 - m) * student`` with ``m =``
    :func:`warmup_momentum` for every PARAMETER; iteration 0 copies the
    student's parameters. Buffers (e.g. BN running statistics) are neither
    copied nor averaged, as in DAFormer. ``requires_grad`` of the teacher's
    parameters is left unchanged.

    Args:
        ema_model (nn.Module): teacher, same structure as ``model``.
        model (nn.Module): student.
        iteration (int): training iteration (0-based).
        ema_momentum (float): final momentum.

    Returns:
        float: the momentum used.
    """
    ema_params = list(ema_model.named_parameters())
    params = list(model.named_parameters())
    assert len(ema_params) == len(params), \
        'EMA and student models have different parameters'
    momentum = warmup_momentum(iteration, ema_momentum)
    for (ema_name, ema_param), (name, param) in zip(ema_params, params):
        assert ema_name == name, f'parameter mismatch: {ema_name} vs {name}'
        assert ema_param.shape == param.shape, f'{name}: shape differs'
        source = param.detach().to(ema_param.device, ema_param.dtype)
        if iteration == 0:
            ema_param.copy_(source)
        else:
            ema_param.mul_(momentum).add_(source, alpha=1. - momentum)
    return momentum
