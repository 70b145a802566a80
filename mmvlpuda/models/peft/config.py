"""``peft_cfg`` → a checked ``peft.LoraConfig`` / ``peft.AdaLoraConfig``
(cf. peft's ``tuners/lora/config.py``): every target must exist, be of a
type the method adapts and have a forward that actually runs."""
import re
import warnings
from typing import Dict, List, Sequence, Union

import torch.nn as nn
from open_clip.modified_resnet import AttentionPool2d
from peft import LoraConfig

ADAPTER = 'default'  # peft adapter name
# module types each method adapts (nn.MultiheadAttention through
# mmvlpuda's exact layers; AdaLoRA's own dispatch has none, we add it)
LORA_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding,
              nn.MultiheadAttention)
ADALORA_TYPES = (nn.Linear, nn.Conv2d, nn.MultiheadAttention)
# parents whose forward reads their children's weights without calling them
READS_CHILD_WEIGHTS = (nn.MultiheadAttention, AttentionPool2d)


def build_peft_config(config_cls: type, peft_cfg: dict, model: nn.Module,
                      method: str):
    """Check ``peft_cfg`` against ``model`` and build ``config_cls``.

    Args:
        config_cls (type): ``peft.LoraConfig`` or ``peft.AdaLoraConfig``.
        peft_cfg (dict): its keyword arguments (``target_modules``
            required).
        model (nn.Module): the model the adapters go into.
        method (str): ``'lora'`` or ``'adalora'``, for error messages.

    Returns:
        LoraConfig | AdaLoraConfig: the config.

    Example:
        >>> build_peft_config(LoraConfig, dict(r=4, target_modules=['attn']),
        ...                   vit, 'lora')
    """
    kind = 'LoRA' if config_cls is LoraConfig else 'AdaLoRA'
    targets = peft_cfg.get('target_modules')
    if not targets:
        raise ValueError(f"method='{method}' needs "
                         '`peft_cfg.target_modules` (module names of the '
                         'backbone, e.g. ["attn", "c_fc", "c_proj"])')
    if peft_cfg.get('target_parameters'):
        raise ValueError('`peft_cfg.target_parameters` is not supported: '
                         "peft only applies it inside the owning module's "
                         'forward')
    check_targets(model, targets,
                  LORA_TYPES if config_cls is LoraConfig else ADALORA_TYPES,
                  method)
    peft_cfg = dict(peft_cfg)
    if isinstance(targets, (list, tuple)):
        peft_cfg['target_modules'] = list(targets)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Note that `r`')
            return config_cls(**peft_cfg)
    except TypeError as e:
        bad = re.search(r"argument '(\w+)'", str(e))
        key = bad.group(1) if bad else '?'
        raise TypeError(f"unknown {kind} option '{key}' (key "
                        f'`peft_cfg.{key}`)') from e
    except ValueError as e:
        raise ValueError(f'invalid {kind} `peft_cfg`: '
                         f'{str(e).splitlines()[0]}') from e


def _match_targets(modules: Dict[str, nn.Module],
                   targets: Union[str, Sequence[str]]) -> Dict[str, List]:
    """Module names per target, as peft matches them (a string is a full
    regex, a list matches names or name suffixes)."""
    if isinstance(targets, str):
        return {targets: [n for n in modules if re.fullmatch(targets, n)]}
    return {
        t: [n for n in modules if n == t or n.endswith('.' + t)]
        for t in targets
    }


def check_targets(model: nn.Module, targets: Union[str, Sequence[str]],
                  allowed: tuple, method: str) -> None:
    """Raise a one-line ``ValueError`` naming ``peft_cfg.target_modules``
    if a target matches nothing, is not one of the ``allowed`` types, or
    belongs to a parent that reads its weight directly (an adapter there
    would never run).

    Args:
        model (nn.Module): the model the adapters go into.
        targets (str | Sequence[str]): ``peft_cfg.target_modules``.
        allowed (tuple): module types the method adapts.
        method (str): for error messages.
    """
    modules = dict(model.named_modules())
    for target, names in _match_targets(modules, targets).items():
        if not names:
            raise ValueError(f"peft target module '{target}' not found in "
                             'the backbone (key `peft_cfg.target_modules`)')
        for name in names:
            module = modules[name]
            parent = modules.get(name.rpartition('.')[0])
            if isinstance(parent, READS_CHILD_WEIGHTS):
                raise ValueError(
                    f"peft target '{name}' belongs to a "
                    f'{type(parent).__name__}, whose forward reads its '
                    'weight directly, so an adapter there would never run '
                    '(for nn.MultiheadAttention target the attention module '
                    'itself; key `peft_cfg.target_modules`)')
            if not isinstance(module, allowed):
                raise ValueError(
                    f"peft target '{name}' is a {type(module).__name__}; "
                    f"method='{method}' supports "
                    f'{[t.__name__ for t in allowed]} (key '
                    '`peft_cfg.target_modules`)')
