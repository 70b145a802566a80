"""Adapters whose forward never runs fail loudly on the first forward.

A target whose parent reads its weight instead of calling it (open_clip's
``AttentionPool2d`` projections, ``nn.MultiheadAttention.out_proj``) would
silently train nothing in peft. Known cases are rejected at build time
(:func:`check_targets`); :func:`watch_adapters` and
:func:`check_adapters_ran` catch any other one in the first forward pass.
The mark lives on each module, so deep copies (e.g. an EMA model) are
checked on their own.
"""
from typing import List

import torch.nn as nn
from peft.tuners.tuners_utils import BaseTunerLayer


def _mark_called(module, args):
    module._peft_called = True


def watch_adapters(model: nn.Module) -> List[str]:
    """Mark the outermost peft layers of ``model`` when they run.

    Args:
        model (nn.Module): a model with adapters injected.

    Returns:
        list[str]: names of the watched layers, for
        :func:`check_adapters_ran`.
    """
    layers = [(n, m) for n, m in model.named_modules()
              if isinstance(m, BaseTunerLayer)]
    names = [
        n for n, _ in layers
        if not any(n.startswith(o + '.') for o, _ in layers)
    ]
    for name in names:
        model.get_submodule(name).register_forward_pre_hook(_mark_called)
    return names


def check_adapters_ran(model: nn.Module, names: List[str]) -> None:
    """Remove the marks of :func:`watch_adapters` and raise a one-line
    ``ValueError`` naming the first layer that did not run.

    Args:
        model (nn.Module): the model passed to :func:`watch_adapters`.
        names (list[str]): what :func:`watch_adapters` returned.
    """
    dead = []
    for name in names:
        module = model.get_submodule(name)
        hooks = module._forward_pre_hooks
        for key in [k for k, h in hooks.items() if h is _mark_called]:
            del hooks[key]
        if not module.__dict__.pop('_peft_called', False):
            dead.append(name)
    if dead:
        raise ValueError(
            f"peft adapter on '{dead[0]}' ({len(dead)} in total) was never "
            'called in the forward pass: its parent reads the weight '
            'directly; remove it from `peft_cfg.target_modules`')
