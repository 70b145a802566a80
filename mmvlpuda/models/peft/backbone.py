"""Parameter-efficient fine-tuning (PEFT) of a backbone: the trainable set of
the paper's Table VII baselines (linear probe, fine-tuning, BitFit, LoRA,
AdaLoRA), with LoRA/AdaLoRA injected by HF ``peft``."""
import copy
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from peft import AdaLoraConfig, LoraConfig, inject_adapter_in_model

from mmvlpuda.registry import MODELS
from mmvlpuda.sparse import model_dsp
from .adalora import (STATE_PREFIX, AdaLoraAllocation, state_to_tensors,
                      tensors_to_state)
from .call_check import check_adapters_ran, watch_adapters
from .config import ADAPTER, build_peft_config
from .layer import ExactLoraMultiheadAttention, match_conv_dilation

METHODS = ('linear_probe', 'finetune', 'bitfit', 'lora', 'adalora')


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
      ``nn.MultiheadAttention``, :class:`AdaLoraAllocation`); rank
      allocation needs :class:`PEFTHook`, which calls
      :meth:`update_and_allocate` after every optimizer step and adds the
      orthogonal regularisation. ``total_step`` defaults to the number of
      optimizer steps of the run (from ``train_cfg.max_iters``);
      ``tinit``/``tfinal`` may be fractions of it. The rank allocator's
      state (rank pattern, sensitivity EMAs) is part of this module's
      ``state_dict``, under ``adalora.{rank_pattern,exp_avg_ipt,
      exp_avg_unc}.<parameter name>``, so checkpoints and ``--resume``
      carry it for every PEFT backbone of a model.

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
        inner = self._inner_cfg(backbone, backbone_kwargs)
        if inner.get('frozen') and method != 'linear_probe':
            raise ValueError(f"`frozen=True` contradicts method='{method}' "
                             "(use method='linear_probe'; key `frozen`)")
        self.method = method
        self.peft_cfg = copy.deepcopy(peft_cfg)
        self.backbone = MODELS.build(inner)
        if method in ('lora', 'adalora') and getattr(self.backbone, 'init_cfg',
                                                     None):
            # load pretrained weights (e.g. an mmseg ResNet's `Pretrained`
            # init_cfg) before peft renames adapted weights to base_layer.*
            self.backbone.init_weights()
        self.embed_dims = getattr(self.backbone, 'embed_dims', None)
        self._adalora: Optional[AdaLoraAllocation] = None
        self._adapter_names = []  # adapters checked in the first forward
        self._warned_no_schedule = False
        getattr(self, f'_setup_{method}')(peft_cfg)

    @staticmethod
    def _inner_cfg(backbone: Optional[dict], backbone_kwargs: dict) -> dict:
        inner = dict(type='CLIPVisualBackbone') if backbone is None \
            else copy.deepcopy(dict(backbone))
        for key, value in backbone_kwargs.items():
            if key in inner and inner[key] != value:
                raise ValueError(f'`{key}` is set both on PEFTBackbone '
                                 f'({value!r}) and in `backbone` '
                                 f'({inner[key]!r}) (key `backbone.{key}`)')
            inner[key] = value
        return inner

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
        config = build_peft_config(LoraConfig, peft_cfg, self.backbone,
                                   self.method)
        config._register_custom_module(
            {nn.MultiheadAttention: ExactLoraMultiheadAttention})
        inject_adapter_in_model(config, self.backbone, adapter_name=ADAPTER)
        match_conv_dilation(self.backbone)
        self._adapter_names = watch_adapters(self.backbone)

    def _setup_adalora(self, peft_cfg: dict):
        self._adalora = AdaLoraAllocation(self.backbone, peft_cfg)
        self._adapter_names = watch_adapters(self.backbone)

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
        if self.training:
            self._warn_if_unscheduled()
        out = self.backbone(x)
        if self._adapter_names:
            names, self._adapter_names = self._adapter_names, []
            check_adapters_ran(self.backbone, names)
        return out

    def _warn_if_unscheduled(self):
        """AdaLoRA without ``total_step`` has no schedule, so nothing can
        allocate its ranks (:class:`PEFTHook` sets it before training)."""
        if (self._adalora is None or self._adalora.total_step is not None
                or self._warned_no_schedule):
            return
        self._warned_no_schedule = True
        print_log(
            "PEFTBackbone(method='adalora') trains without rank allocation: "
            "add custom_hooks=[dict(type='PEFTHook')]",
            logger='current',
            level=30)

    # DSP ---------------------------------------------------------------------
    def num_effective_dsp_params(self) -> int:
        """Backbone DSP counting only the active AdaLoRA triplets (for
        other methods :func:`mmvlpuda.sparse.model_dsp` of the backbone:
        its trainable or added elements)."""
        if self._adalora is None:
            return model_dsp(self)
        return self._adalora.num_effective_params()

    # AdaLoRA (see AdaLoraAllocation) -----------------------------------------
    def _allocation(self, name: str) -> AdaLoraAllocation:
        if self._adalora is None:
            raise RuntimeError(f"{name} needs method='adalora', got "
                               f"'{self.method}'")
        return self._adalora

    @property
    def adalora_config(self) -> Optional[AdaLoraConfig]:
        return None if self._adalora is None else self._adalora.config

    @property
    def total_step(self) -> Optional[int]:
        """AdaLoRA's ``total_step``; None until known (and for the other
        methods)."""
        return None if self._adalora is None else self._adalora.total_step

    def set_total_step(self, total_step: int) -> None:
        """Set AdaLoRA's ``total_step`` (optimizer steps) and resolve
        fractional ``tinit``/``tfinal`` against it."""
        self._allocation('set_total_step').set_total_step(total_step)

    def update_and_allocate(self, global_step: int) -> None:
        """peft's AdaLoRA step: update the sensitivity scores from the
        current gradients and mask ``lora_E`` to the scheduled budget. Call
        after ``optimizer.step()`` and before ``zero_grad()``."""
        self._allocation('update_and_allocate').update_and_allocate(
            global_step)

    def orthogonal_regularization(self) -> torch.Tensor:
        """AdaLoRA's mean ``||PᵀP - I||_F`` over all ``lora_A``/``lora_B``
        (peft ``AdaLoraModel.forward``, unweighted)."""
        return self._allocation(
            'orthogonal_regularization').orthogonal_regularization()

    def add_orthogonal_regularization_grad_(self) -> float:
        """Add ``orth_reg_weight * grad(orthogonal_regularization)`` to the
        ``.grad`` of the adapter factors (what adding the term to the loss
        does, without a second backward through the model). Returns the
        unweighted regulariser."""
        return self._allocation('add_orthogonal_regularization_grad_'
                                ).add_orthogonal_regularization_grad_()

    def adalora_ranks(self) -> Dict[str, int]:
        """Active rank per adapted matrix: from peft's ``rank_pattern``
        once the allocator has masked, else the initial rank."""
        return self._allocation('adalora_ranks').ranks()

    def adalora_state(self) -> dict:
        """Rank pattern and sensitivity EMAs (also in :meth:`state_dict`)."""
        return self._allocation('adalora_state').state()

    def load_adalora_state(self, state: dict) -> None:
        """Restore :meth:`adalora_state` (names the backbone lacks are
        dropped)."""
        self._allocation('load_adalora_state').load_state(state)

    # the allocator state in state_dict --------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self._adalora is not None:
            destination.update(
                state_to_tensors(self._adalora.state(), prefix + STATE_PREFIX))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        """Restore the allocator state from the ``adalora.*`` entries (none:
        the empty state of a fresh allocator); entries for parameters the
        backbone lacks are unexpected keys."""
        if self._adalora is not None:
            own = prefix + STATE_PREFIX
            entries = {
                k: v
                for k, v in state_dict.items() if k.startswith(own)
            }
            state, unknown = tensors_to_state(entries, own)
            dropped = set(self._adalora.load_state(state))
            unexpected_keys.extend(unknown + [
                k for k in entries if k[len(own):].partition('.')[2] in dropped
            ])
            state_dict = {
                k: v
                for k, v in state_dict.items() if k not in entries
            }
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
