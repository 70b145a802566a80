"""AdaLoRA on one backbone: peft's tuner, its schedule and the state of its
rank allocator (rank pattern and sensitivity EMAs), which
:class:`PEFTBackbone` saves in its own ``state_dict``."""
import copy
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from peft import AdaLoraConfig

from .config import ADAPTER, build_peft_config
from .model import AdaLoraMHAModel

# schedule keys that may be fractions of total_step
SCHEDULE_KEYS = ('tinit', 'tfinal')
# the allocator state, one tensor per adapted parameter in a state dict
STATE_KEYS = ('rank_pattern', 'exp_avg_ipt', 'exp_avg_unc')
# where PEFTBackbone keeps it: `{prefix}adalora.{group}.{parameter name}`
STATE_PREFIX = 'adalora.'


class AdaLoraAllocation:
    """peft's AdaLoRA on ``model``: ``P diag(E) Q`` adapters, the rank
    budget schedule and the ``RankAllocator`` that masks ``E``.

    The peft tuner is a plain attribute, not a submodule, so the parameter
    names of ``model`` do not change. ``total_step`` stays unknown (and
    :meth:`update_and_allocate` refuses to run) until
    ``peft_cfg.total_step`` or :meth:`set_total_step` gives it.

    Args:
        model (nn.Module): the backbone to adapt (in place).
        peft_cfg (dict): ``peft.AdaLoraConfig`` arguments; ``tinit`` and
            ``tfinal`` may be fractions of ``total_step``.

    Example:
        >>> allocation = AdaLoraAllocation(vit, dict(
        ...     init_r=8, target_r=4, tinit=0.1, tfinal=0.2,
        ...     target_modules=['attn', 'c_fc', 'c_proj']))
        >>> allocation.set_total_step(1000)
    """

    def __init__(self, model: nn.Module, peft_cfg: dict):
        peft_cfg = dict(peft_cfg)
        total_step = peft_cfg.pop('total_step', None)
        self.schedule = {k: peft_cfg.pop(k, 0) for k in SCHEDULE_KEYS}
        # provisional schedule; set_total_step() fixes it before training
        config = build_peft_config(
            AdaLoraConfig, dict(peft_cfg, total_step=2, tinit=0, tfinal=0),
            model, 'adalora')
        self.tuner = AdaLoraMHAModel(model, config, ADAPTER)
        self.total_step: Optional[int] = None
        if total_step is not None:
            self.set_total_step(total_step)

    @property
    def model(self) -> nn.Module:
        return self.tuner.model

    @property
    def config(self) -> AdaLoraConfig:
        return self.tuner.peft_config[ADAPTER]

    # schedule ----------------------------------------------------------------
    def set_total_step(self, total_step: int) -> None:
        """Set ``total_step`` (optimizer steps) and resolve fractional
        ``tinit``/``tfinal`` against it."""
        total_step = int(total_step)
        steps = {}
        for key in SCHEDULE_KEYS:
            value = self.schedule[key]
            if isinstance(value, float) and 0 <= value < 1:
                value = int(math.floor(value * total_step))
            steps[key] = int(value)
        if total_step <= 0 or steps['tinit'] >= total_step - steps['tfinal']:
            raise ValueError(
                f'AdaLoRA schedule leaves no budgeting phase: total_step='
                f"{total_step}, tinit={steps['tinit']}, tfinal="
                f"{steps['tfinal']} (keys `peft_cfg.tinit`/`tfinal`/"
                '`total_step`, train_cfg.max_iters)')
        self.config.total_step = total_step
        self.config.tinit = steps['tinit']
        self.config.tfinal = steps['tfinal']
        self.total_step = total_step

    def update_and_allocate(self, global_step: int) -> None:
        """peft's AdaLoRA step: update the sensitivity scores from the
        current gradients and mask ``lora_E`` to the scheduled budget."""
        if self.total_step is None:
            raise RuntimeError(
                'AdaLoRA total_step is unknown: set `peft_cfg.total_step` '
                "or add custom_hooks=[dict(type='PEFTHook')]")
        self.tuner.update_and_allocate(int(global_step))

    # orthogonal regulariser --------------------------------------------------
    def _orth_params(self) -> List[Tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters()
                if ('lora_A' in n or 'lora_B' in n) and ADAPTER in n]

    def orthogonal_regularization(self) -> torch.Tensor:
        """Mean ``||PᵀP - I||_F`` over all ``lora_A``/``lora_B`` (peft
        ``AdaLoraModel.forward``, unweighted)."""
        terms = []
        for name, p in self._orth_params():
            cov = p @ p.T if 'lora_A' in name else p.T @ p
            eye = torch.eye(*cov.shape, dtype=cov.dtype, device=cov.device)
            terms.append(torch.linalg.matrix_norm(cov - eye))
        return torch.stack(terms).mean()

    def add_orthogonal_regularization_grad_(self) -> float:
        """Add ``orth_reg_weight * grad(orthogonal_regularization)`` to the
        ``.grad`` of the adapter factors; return the unweighted value."""
        weight = self.config.orth_reg_weight
        params = [p for _, p in self._orth_params()]
        with torch.enable_grad():
            reg = self.orthogonal_regularization()
            if weight > 0:
                grads = torch.autograd.grad(reg * weight, params)
                for p, g in zip(params, grads):
                    p.grad = g if p.grad is None else p.grad.add_(g)
        return float(reg.detach())

    # ranks -------------------------------------------------------------------
    def ranks(self) -> Dict[str, int]:
        """Active rank per adapted matrix: from peft's ``rank_pattern``
        once the allocator has masked, else the initial rank."""
        pattern = self.config.rank_pattern or {}
        ranks = {}
        for name, p in self.model.named_parameters():
            if f'lora_E.{ADAPTER}' in name:
                kept = pattern.get(name)
                ranks[name.replace(f'.lora_E.{ADAPTER}', '')] = \
                    p.shape[0] if kept is None else int(sum(kept))
        return ranks

    def num_effective_params(self) -> int:
        """Adapter elements of the active triplets only:
        ``sum(rank * (d_in + d_out + 1))``."""
        params = dict(self.model.named_parameters())
        total = 0
        for name, rank in self.ranks().items():
            a = params[f'{name}.lora_A.{ADAPTER}']
            b = params[f'{name}.lora_B.{ADAPTER}']
            total += rank * (a.shape[1] + b.shape[0] + 1)
        return total

    # allocator state ---------------------------------------------------------
    def state(self) -> dict:
        """``dict(rank_pattern, exp_avg_ipt, exp_avg_unc)`` (CPU copies)."""
        alloc = self.tuner.rankallocator
        return dict(
            rank_pattern=copy.deepcopy(self.config.rank_pattern),
            exp_avg_ipt={
                k: v.cpu()
                for k, v in alloc.exp_avg_ipt.items()
            },
            exp_avg_unc={
                k: v.cpu()
                for k, v in alloc.exp_avg_unc.items()
            })

    def load_state(self, state: dict) -> List[str]:
        """Restore :meth:`state`; return the parameter names it holds that
        ``model`` does not have (their EMAs are dropped)."""
        alloc = self.tuner.rankallocator
        self.config.rank_pattern = state.get('rank_pattern')
        params = dict(self.model.named_parameters())
        unknown = [
            n for n in self.config.rank_pattern or {} if n not in params
        ]
        for key in ('exp_avg_ipt', 'exp_avg_unc'):
            values = state.get(key, {})
            unknown += [k for k in values if k not in params]
            setattr(
                alloc, key, {
                    k: v.detach().to(params[k].device, copy=True)
                    for k, v in values.items() if k in params
                })
        # peft re-zeroes the EMAs of names missing from `ipt`
        alloc.ipt = {
            k: torch.zeros_like(v)
            for k, v in alloc.exp_avg_ipt.items()
        }
        return sorted(set(unknown))


def state_to_tensors(state: dict, prefix: str = '') -> Dict[str, torch.Tensor]:
    """Flatten :meth:`AdaLoraAllocation.state` into state-dict entries
    ``{prefix}{group}.{parameter name}`` (the rank pattern as bool tensors).

    Args:
        state (dict): ``dict(rank_pattern, exp_avg_ipt, exp_avg_unc)``.
        prefix (str): key prefix. Defaults to ''.
    """
    return {
        f'{prefix}{group}.{name}': torch.as_tensor(value)
        for group in STATE_KEYS
        for name, value in (state.get(group) or {}).items()
    }


def tensors_to_state(tensors: Dict[str, torch.Tensor],
                     prefix: str = '') -> Tuple[dict, List[str]]:
    """Inverse of :func:`state_to_tensors`.

    Args:
        tensors (dict): state-dict entries, every key starting with
            ``prefix``.
        prefix (str): key prefix. Defaults to ''.

    Returns:
        tuple[dict, list[str]]: the state (``rank_pattern`` None when
        empty, as peft's default) and the keys of unknown groups.
    """
    state = {group: {} for group in STATE_KEYS}
    unknown = []
    for key, value in tensors.items():
        group, _, name = key[len(prefix):].partition('.')
        if group in state and name:
            state[group][name] = value
        else:
            unknown.append(key)
    state['rank_pattern'] = {
        n: v.tolist()
        for n, v in state['rank_pattern'].items()
    } or None
    return state, unknown
