"""Parameter-efficient fine-tuning (PEFT) of a backbone: the trainable set of
the paper's Table VII baselines (linear probe, fine-tuning, BitFit, LoRA,
AdaLoRA), with LoRA/AdaLoRA injected by HF ``peft``."""
import copy
import math
import re
import warnings
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from open_clip.modified_resnet import AttentionPool2d
from peft import AdaLoraConfig, LoraConfig, inject_adapter_in_model
from peft.tuners.adalora import AdaLoraModel
from peft.tuners.adalora.layer import AdaLoraLayer, SVDLinear
from peft.tuners.lora.layer import \
    MultiheadAttention as LoraMultiheadAttention
from peft.tuners.tuners_utils import BaseTunerLayer
from torch.func import functional_call

from mmvlpuda.registry import MODELS

METHODS = ('linear_probe', 'finetune', 'bitfit', 'lora', 'adalora')
ADAPTER = 'default'  # peft adapter name
# module types peft can adapt (MultiheadAttention through the exact layers
# below; AdaLoRA's own dispatch has no MultiheadAttention, we add it)
_LORA_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding,
               nn.MultiheadAttention)
_ADALORA_TYPES = (nn.Linear, nn.Conv2d, nn.MultiheadAttention)
# parents whose forward reads their children's weights without calling them
_READS_CHILD_WEIGHTS = (nn.MultiheadAttention, AttentionPool2d)
# AdaLoRA schedule keys that may be fractions of total_step
_ADALORA_STEPS = ('tinit', 'tfinal')


# ---------------------------------------------------------------------------
# nn.MultiheadAttention adapters that never touch the frozen weights
# ---------------------------------------------------------------------------
def _mha_forward(layer, deltas_in, deltas_out, query, args, kwargs):
    """Run the wrapped ``nn.MultiheadAttention`` with ``in_proj_weight`` and
    ``out_proj.weight`` replaced by ``W + sum(deltas)`` for this call only
    (``torch.func.functional_call``: the frozen Parameters keep their values
    and identity; peft 0.21 instead merges/unmerges in place, see
    :class:`_ExactLoraMultiheadAttention`)."""
    base = layer.get_base_layer()
    out_wrapper = base.out_proj  # peft layer around the out_proj Linear
    out_linear = out_wrapper.get_base_layer()
    w_in = base.in_proj_weight
    w_out = out_linear.weight
    new_in = w_in + sum(d.to(w_in.dtype) for d in deltas_in)
    new_out = w_out + sum(d.to(w_out.dtype) for d in deltas_out)
    # `out_proj.base_layer.weight`: MultiheadAttention.forward reads
    # `self.out_proj.weight`, which the peft wrapper forwards to its base
    return functional_call(
        base, {
            'in_proj_weight': new_in,
            'out_proj.base_layer.weight': new_out
        }, (query, ) + tuple(args), kwargs)


class _ExactLoraMultiheadAttention(LoraMultiheadAttention):
    """peft's LoRA ``MultiheadAttention`` with an exact forward.

    peft 0.21 applies LoRA to ``nn.MultiheadAttention`` by merging
    ``W + BA`` into the frozen weights before each forward and subtracting
    it afterwards, re-registering *new* Parameter objects: in fp32
    ``(W + d) - d != W``, so the "frozen" ``in_proj_weight`` /
    ``out_proj.weight`` drift by rounding at every step, and their Parameter
    identity changes on every forward and every ``named_modules()`` call.
    Here the adapted weights only exist for the duration of the call.
    Dispatched through peft's ``LoraConfig._register_custom_module``.
    """

    def forward(self, query: torch.Tensor, *args, **kwargs):
        adapters = [a for a in self.active_adapters if a in self.lora_A]
        if self.disable_adapters or self.merged or not adapters:
            return super().forward(query, *args, **kwargs)
        self._check_forward_args(query, *args, **kwargs)
        out_proj = self.get_base_layer().out_proj
        return _mha_forward(
            self, [self.get_delta_weight(a) for a in adapters],
            [out_proj.get_delta_weight(a) for a in adapters], query, args,
            kwargs)

    def _restore_weights(self):
        # only needed after an explicit merge(); otherwise re-registering
        # would replace the frozen Parameters by new objects
        if self.merged:
            super()._restore_weights()


class _SVDMultiheadAttention(nn.Module, AdaLoraLayer):
    """AdaLoRA (SVD-form ``P diag(E) Q``) on ``nn.MultiheadAttention``: one
    triplet on ``in_proj_weight`` (q, k, v stacked, 3d x d) held here and
    one on ``out_proj`` (a peft ``SVDLinear``), both seen by peft's
    ``RankAllocator``. peft 0.21's AdaLoRA does not support this module.
    Merging is not supported."""

    def __init__(self,
                 base_layer: nn.MultiheadAttention,
                 adapter_name: str,
                 config: AdaLoraConfig,
                 r: int = 0,
                 lora_alpha: int = 1,
                 **kwargs):
        super().__init__()
        AdaLoraLayer.__init__(self, base_layer)
        base_layer.in_proj_weight.requires_grad = False
        base_layer.out_proj = SVDLinear(
            base_layer.out_proj,
            adapter_name,
            config=config,
            r=r,
            lora_alpha=lora_alpha)
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, lora_alpha, config=config)

    def get_delta_weight(self, adapter: str) -> torch.Tensor:
        return (self.lora_B[adapter] @
                (self.lora_A[adapter] * self.lora_E[adapter]) *
                self.scaling[adapter] / (self.ranknum[adapter] + 1e-5))

    def merge(self, *args, **kwargs):
        raise NotImplementedError(
            'merging AdaLoRA into nn.MultiheadAttention is not supported')

    def unmerge(self, *args, **kwargs):
        raise NotImplementedError(
            'merging AdaLoRA into nn.MultiheadAttention is not supported')

    def forward(self, query: torch.Tensor, *args, **kwargs):
        base = self.get_base_layer()
        adapters = [a for a in self.active_adapters if a in self.lora_A]
        if self.disable_adapters or not adapters:
            return base(query, *args, **kwargs)
        return _mha_forward(self,
                            [self.get_delta_weight(a) for a in adapters], [
                                base.out_proj.get_delta_weight(a)
                                for a in adapters
                            ], query, args, kwargs)

    def __repr__(self) -> str:
        return 'adalora.' + super().__repr__()


class _AdaLoraModel(AdaLoraModel):
    """peft's AdaLoRA tuner + ``nn.MultiheadAttention`` support."""

    @staticmethod
    def _create_new_module(lora_config, adapter_name, target, **kwargs):
        base = target.get_base_layer() if isinstance(
            target, BaseTunerLayer) else target
        if isinstance(base, nn.MultiheadAttention):
            kwargs.pop('device_map', None)
            return _SVDMultiheadAttention(
                target, adapter_name, config=lora_config, **kwargs)
        return AdaLoraModel._create_new_module(lora_config, adapter_name,
                                               target, **kwargs)


def _mark_called(module, args):
    module._peft_called = True


# ---------------------------------------------------------------------------
# the backbone wrapper
# ---------------------------------------------------------------------------
@MODELS.register_module()
class PEFTBackbone(BaseModule):
    """A backbone whose trainable set follows a PEFT method (Table VII).

    The inner backbone (default :class:`CLIPVisualBackbone`) is built from
    ``backbone`` updated with every extra keyword (``arch``, ``pretrained``,
    ``norm_eval``, ...). Keeping these keys flat on this config, as the CMKD
    configs do, lets :class:`CMKDClassifier` give the text head the same
    ``arch``/``pretrained`` and keeps ``--cfg-options
    model.backbone.arch=...`` working; only ``type``, ``method`` and
    ``peft_cfg`` change.

    Methods (trainable set of the backbone):

    * ``'linear_probe'``: nothing; the backbone runs in eval mode under
      ``torch.no_grad`` (only the head trains).
    * ``'finetune'``: every parameter.
    * ``'bitfit'``: every parameter whose name ends with ``bias`` (BatchNorm,
      LayerNorm, Linear and attention biases).
    * ``'lora'``: ``peft.LoraConfig(**peft_cfg)`` injected into the modules
      ``peft_cfg.target_modules`` (Linear, Conv2d, ``nn.MultiheadAttention``
      — q/k/v and output projection, exact forward); base weights frozen.
    * ``'adalora'``: ``peft.AdaLoraConfig(**peft_cfg)`` (Linear, Conv2d and
      ``nn.MultiheadAttention``); rank allocation needs
      :class:`PEFTHook`, which calls :meth:`update_and_allocate` after every
      optimizer step and adds the orthogonal regularisation. ``total_step``
      defaults to the number of optimizer steps of the run (from
      ``train_cfg.max_iters``); ``tinit``/``tfinal`` may be fractions of it.

    Targets whose forward is never called (their parent reads the weight
    directly: open_clip's ``AttentionPool2d`` projections,
    ``nn.MultiheadAttention.out_proj``) would silently train nothing in
    peft; they are rejected at build time, and any other adapter that does
    not run in the first forward pass raises there.

    Parameter names stay those of the inner backbone under ``backbone.``;
    peft moves an adapted module's own weights under ``base_layer.``
    (``backbone.visual.transformer.resblocks.0.mlp.c_fc.base_layer.weight``)
    and adds ``lora_A``/``lora_B`` (``lora_E`` for AdaLoRA).

    Args:
        method (str): one of ``'linear_probe'``, ``'finetune'``,
            ``'bitfit'``, ``'lora'``, ``'adalora'``.
        peft_cfg (dict, optional): ``peft.LoraConfig`` /
            ``peft.AdaLoraConfig`` arguments (``target_modules`` required);
            must be empty for the other methods. Defaults to None.
        backbone (dict, optional): inner backbone config. Defaults to
            ``dict(type='CLIPVisualBackbone')``.
        init_cfg (dict, optional): Defaults to None.
        **backbone_kwargs: merged into ``backbone``.

    Example:
        >>> # configs/peft/officehome_vitb16_lora_r4.py
        >>> model = dict(backbone=dict(
        ...     type='PEFTBackbone', method='lora',
        ...     peft_cfg=dict(r=4, lora_alpha=4,
        ...                   target_modules=['attn', 'c_fc', 'c_proj'])))
        >>> custom_hooks = [dict(type='PEFTHook')]
        >>> # standalone
        >>> backbone = dict(type='PEFTBackbone', method='bitfit',
        ...                 arch='ViT-B-16', pretrained='openai')
    """

    def __init__(self,
                 method: str,
                 peft_cfg: Optional[dict] = None,
                 backbone: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **backbone_kwargs):
        super().__init__(init_cfg=init_cfg)
        if method not in METHODS:
            raise ValueError(f'PEFTBackbone method must be one of {METHODS}, '
                             f"got '{method}' (key `method`)")
        peft_cfg = dict(peft_cfg or {})
        if method not in ('lora', 'adalora') and peft_cfg:
            raise ValueError(f"method='{method}' takes no `peft_cfg` (got "
                             f'{sorted(peft_cfg)}; key `peft_cfg`)')
        inner = dict(type='CLIPVisualBackbone') if backbone is None \
            else copy.deepcopy(dict(backbone))
        for key, value in backbone_kwargs.items():
            if key in inner and inner[key] != value:
                raise ValueError(f'`{key}` is set both on PEFTBackbone '
                                 f'({value!r}) and in `backbone` '
                                 f'({inner[key]!r}) (key `backbone.{key}`)')
            inner[key] = value
        if inner.get('frozen') and method != 'linear_probe':
            raise ValueError(f"`frozen=True` contradicts method='{method}' "
                             "(use method='linear_probe'; key `frozen`)")
        self.method = method
        self.peft_cfg = copy.deepcopy(peft_cfg)
        self.backbone = MODELS.build(inner)
        if method in ('lora', 'adalora') and getattr(
                self.backbone, 'init_cfg', None):
            # load pretrained weights (e.g. an mmseg ResNet's `Pretrained`
            # init_cfg) before peft renames adapted weights to base_layer.*
            self.backbone.init_weights()
        self.embed_dims = getattr(self.backbone, 'embed_dims', None)
        # AdaLoRA state (the peft tuner is kept out of the module tree so
        # parameter names do not change)
        self._adalora: Optional[AdaLoraModel] = None
        self._adalora_schedule: Dict[str, float] = {}
        self.total_step: Optional[int] = None
        self.allocator_attached = False
        self._warned_no_allocator = False
        self._adapter_names: List[str] = []
        getattr(self, f'_setup_{method}')(peft_cfg)

    # trainable sets --------------------------------------------------------
    def _setup_linear_probe(self, _):
        self.backbone.requires_grad_(False)

    def _setup_finetune(self, _):
        self.backbone.requires_grad_(True)

    def _setup_bitfit(self, _):
        found = False
        for name, param in self.backbone.named_parameters():
            is_bias = name.endswith('bias')
            param.requires_grad_(is_bias)
            found |= is_bias
        if not found:
            raise ValueError("method='bitfit': the backbone has no parameter "
                             "named '*bias'")

    def _setup_lora(self, peft_cfg: dict):
        config = self._peft_config(LoraConfig, peft_cfg)
        config._register_custom_module(
            {nn.MultiheadAttention: _ExactLoraMultiheadAttention})
        inject_adapter_in_model(config, self.backbone, adapter_name=ADAPTER)
        self._dilate_conv_adapters()
        self._watch_adapters()

    def _dilate_conv_adapters(self):
        """peft builds a Conv2d adapter's ``lora_A`` with the base
        layer's kernel, stride and padding but not its dilation, so on a
        dilated convolution (DeepLab's output-stride-8 ResNet) the two
        branches disagree in size. Give ``lora_A`` the base dilation: the
        adapter is then exactly the dilated convolution with weight B·A."""
        for module in self.backbone.modules():
            base = getattr(module, 'base_layer', None)
            lora_a = getattr(module, 'lora_A', None)
            if isinstance(base, nn.Conv2d) and lora_a is not None:
                for conv in lora_a.values():
                    conv.dilation = base.dilation

    def _setup_adalora(self, peft_cfg: dict):
        peft_cfg = dict(peft_cfg)
        total_step = peft_cfg.pop('total_step', None)
        for key in _ADALORA_STEPS:
            self._adalora_schedule[key] = peft_cfg.pop(key, 0)
        # provisional schedule; set_total_step() fixes it before training
        config = self._peft_config(
            AdaLoraConfig, dict(peft_cfg, total_step=2, tinit=0, tfinal=0))
        self.__dict__['_adalora'] = _AdaLoraModel(self.backbone, config,
                                                  ADAPTER)
        self._watch_adapters()
        if total_step is not None:
            self.set_total_step(total_step)

    def _peft_config(self, config_cls, peft_cfg: dict):
        kind = 'LoRA' if config_cls is LoraConfig else 'AdaLoRA'
        targets = peft_cfg.get('target_modules')
        if not targets:
            raise ValueError(f"method='{self.method}' needs "
                             '`peft_cfg.target_modules` (module names of the '
                             'backbone, e.g. ["attn", "c_fc", "c_proj"])')
        if peft_cfg.get('target_parameters'):
            raise ValueError('`peft_cfg.target_parameters` is not supported: '
                             'peft only applies it inside the owning '
                             "module's forward")
        self._check_targets(targets, _LORA_TYPES
                            if config_cls is LoraConfig else _ADALORA_TYPES)
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

    def _check_targets(self, targets, allowed: tuple):
        modules = dict(self.backbone.named_modules())
        if isinstance(targets, str):
            groups = {
                targets: [n for n in modules if re.fullmatch(targets, n)]
            }
        else:
            groups = {
                t: [n for n in modules if n == t or n.endswith('.' + t)]
                for t in targets
            }
        for target, names in groups.items():
            if not names:
                raise ValueError(
                    f"peft target module '{target}' not found in the "
                    f'backbone (key `peft_cfg.target_modules`)')
            for name in names:
                module, parent = modules[name], modules.get(
                    name.rpartition('.')[0])
                if isinstance(parent, _READS_CHILD_WEIGHTS):
                    raise ValueError(
                        f"peft target '{name}' belongs to a "
                        f'{type(parent).__name__}, whose forward reads its '
                        'weight directly, so an adapter there would never '
                        'run (for nn.MultiheadAttention target the attention '
                        'module itself; key `peft_cfg.target_modules`)')
                if not isinstance(module, allowed):
                    raise ValueError(
                        f"peft target '{name}' is a "
                        f'{type(module).__name__}; method='
                        f"'{self.method}' supports "
                        f'{[t.__name__ for t in allowed]} (key '
                        '`peft_cfg.target_modules`)')

    def _watch_adapters(self):
        """Mark the injected adapters that run in the first forward (the
        mark lives on each module, so deep copies are checked on their
        own)."""
        layers = [(n, m) for n, m in self.backbone.named_modules()
                  if isinstance(m, BaseTunerLayer)]
        self._adapter_names = [
            n for n, m in layers
            if not any(n.startswith(o + '.') for o, _ in layers)
        ]
        for name in self._adapter_names:
            self.backbone.get_submodule(name).register_forward_pre_hook(
                _mark_called)

    def _check_adapters_ran(self):
        dead = []
        for name in self._adapter_names:
            module = self.backbone.get_submodule(name)
            hooks = module._forward_pre_hooks
            for key in [k for k, h in hooks.items() if h is _mark_called]:
                del hooks[key]
            if not module.__dict__.pop('_peft_called', False):
                dead.append(name)
        self._adapter_names = []
        if dead:
            raise ValueError(
                f"peft adapter on '{dead[0]}' ({len(dead)} in total) was "
                'never called in the forward pass: its parent reads the '
                'weight directly; remove it from `peft_cfg.target_modules`')

    # mmengine interface ----------------------------------------------------
    @property
    def norm_eval(self) -> bool:
        return getattr(self.backbone, 'norm_eval', False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.method == 'linear_probe':
            self.backbone.train(False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == 'linear_probe':
            with torch.no_grad():
                return self.backbone(x)
        if (self.method == 'adalora' and self.training
                and not self.allocator_attached
                and not self._warned_no_allocator):
            self._warned_no_allocator = True
            print_log(
                "PEFTBackbone(method='adalora') trains without rank "
                "allocation: add custom_hooks=[dict(type='PEFTHook')]",
                logger='current',
                level=30)
        out = self.backbone(x)
        if self._adapter_names:
            self._check_adapters_ran()
        return out

    # DSP ---------------------------------------------------------------------
    def num_dsp_params(self) -> int:
        """Domain-specific parameters of the backbone: trainable (or added)
        elements (0 for a linear probe, all for fine-tuning)."""
        return sum(p.numel() for p in self.backbone.parameters()
                   if p.requires_grad)

    # AdaLoRA -------------------------------------------------------------
    @property
    def adalora_config(self) -> Optional[AdaLoraConfig]:
        return None if self._adalora is None \
            else self._adalora.peft_config[ADAPTER]

    def set_total_step(self, total_step: int) -> None:
        """Set AdaLoRA's ``total_step`` (optimizer steps) and resolve
        fractional ``tinit``/``tfinal`` against it."""
        config = self.adalora_config
        if config is None:
            raise RuntimeError(f"set_total_step needs method='adalora', got "
                               f"'{self.method}'")
        total_step = int(total_step)
        steps = {}
        for key in _ADALORA_STEPS:
            value = self._adalora_schedule[key]
            if isinstance(value, float) and 0 <= value < 1:
                value = int(math.floor(value * total_step))
            steps[key] = int(value)
        if total_step <= 0 or steps['tinit'] >= total_step - steps['tfinal']:
            raise ValueError(
                f'AdaLoRA schedule leaves no budgeting phase: total_step='
                f"{total_step}, tinit={steps['tinit']}, tfinal="
                f"{steps['tfinal']} (keys `peft_cfg.tinit`/`tfinal`/"
                '`total_step`, train_cfg.max_iters)')
        config.total_step = total_step
        config.tinit = steps['tinit']
        config.tfinal = steps['tfinal']
        self.total_step = total_step

    def update_and_allocate(self, global_step: int) -> None:
        """peft's AdaLoRA step: update the sensitivity scores from the
        current gradients and mask ``lora_E`` to the scheduled budget. Call
        after ``optimizer.step()`` and before ``zero_grad()``."""
        if self._adalora is None:
            raise RuntimeError("update_and_allocate needs method='adalora'")
        if self.total_step is None:
            raise RuntimeError(
                'AdaLoRA total_step is unknown: set `peft_cfg.total_step` '
                "or add custom_hooks=[dict(type='PEFTHook')]")
        self._adalora.update_and_allocate(int(global_step))

    def _orth_params(self) -> List[Tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.backbone.named_parameters()
                if ('lora_A' in n or 'lora_B' in n) and ADAPTER in n]

    def orthogonal_regularization(self) -> torch.Tensor:
        """AdaLoRA's mean ``||PᵀP - I||_F`` over all ``lora_A``/``lora_B``
        (peft ``AdaLoraModel.forward``, unweighted)."""
        terms = []
        for name, p in self._orth_params():
            cov = p @ p.T if 'lora_A' in name else p.T @ p
            eye = torch.eye(*cov.shape, dtype=cov.dtype, device=cov.device)
            terms.append(torch.linalg.matrix_norm(cov - eye))
        return torch.stack(terms).mean()

    def add_orthogonal_regularization_grad_(self) -> float:
        """Add ``orth_reg_weight * grad(orthogonal_regularization)`` to the
        ``.grad`` of the adapter factors (what adding the term to the loss
        does, without a second backward through the model). Returns the
        unweighted regulariser."""
        weight = self.adalora_config.orth_reg_weight
        params = [p for _, p in self._orth_params()]
        with torch.enable_grad():
            reg = self.orthogonal_regularization()
            if weight > 0:
                grads = torch.autograd.grad(reg * weight, params)
                for p, g in zip(params, grads):
                    p.grad = g if p.grad is None else p.grad.add_(g)
        return float(reg.detach())

    def adalora_ranks(self) -> Dict[str, int]:
        """Active rank per adapted matrix: from peft's ``rank_pattern``
        once the allocator has masked, else the initial rank."""
        pattern = self.adalora_config.rank_pattern or {}
        ranks = {}
        for name, p in self.backbone.named_parameters():
            if f'lora_E.{ADAPTER}' in name:
                kept = pattern.get(name)
                ranks[name.replace(f'.lora_E.{ADAPTER}', '')] = \
                    p.shape[0] if kept is None else int(sum(kept))
        return ranks

    def num_effective_dsp_params(self) -> int:
        """Backbone DSP counting only the active AdaLoRA triplets (equals
        :meth:`num_dsp_params` for other methods)."""
        if self._adalora is None:
            return self.num_dsp_params()
        params = dict(self.backbone.named_parameters())
        total = 0
        for name, rank in self.adalora_ranks().items():
            a = params[f'{name}.lora_A.{ADAPTER}']
            b = params[f'{name}.lora_B.{ADAPTER}']
            total += rank * (a.shape[1] + b.shape[0] + 1)
        return total

    def adalora_state(self) -> dict:
        """Rank pattern and sensitivity EMAs (for checkpoints)."""
        alloc = self._adalora.rankallocator
        return dict(
            rank_pattern=copy.deepcopy(self.adalora_config.rank_pattern),
            exp_avg_ipt={k: v.cpu() for k, v in alloc.exp_avg_ipt.items()},
            exp_avg_unc={k: v.cpu() for k, v in alloc.exp_avg_unc.items()})

    def load_adalora_state(self, state: dict) -> None:
        alloc = self._adalora.rankallocator
        self.adalora_config.rank_pattern = state.get('rank_pattern')
        params = dict(self.backbone.named_parameters())
        for key in ('exp_avg_ipt', 'exp_avg_unc'):
            setattr(alloc, key, {
                k: v.to(params[k].device)
                for k, v in state.get(key, {}).items() if k in params
            })
        # peft re-zeroes the EMAs of names missing from `ipt`
        alloc.ipt = {
            k: torch.zeros_like(v)
            for k, v in alloc.exp_avg_ipt.items()
        }
