"""Adapter layers peft 0.21 lacks or gets wrong (cf. peft's
``tuners/lora/layer.py``): exact LoRA and AdaLoRA on
``nn.MultiheadAttention``, and the dilation of LoRA's ``Conv2d`` branch."""
from typing import List, Sequence

import torch
import torch.nn as nn
from peft import AdaLoraConfig
from peft.tuners.adalora.layer import AdaLoraLayer, SVDLinear
from peft.tuners.lora.layer import MultiheadAttention as LoraMultiheadAttention
from torch.func import functional_call


def _active(layer) -> List[str]:
    return [a for a in layer.active_adapters if a in layer.lora_A]


def mha_forward(layer, deltas_in: Sequence[torch.Tensor],
                deltas_out: Sequence[torch.Tensor], query: torch.Tensor, args,
                kwargs):
    """Run the ``nn.MultiheadAttention`` wrapped by the peft ``layer`` with
    ``in_proj_weight`` and ``out_proj.weight`` replaced by
    ``W + sum(deltas)`` for this call only.

    ``torch.func.functional_call`` leaves the frozen Parameters untouched
    (same values, same objects).

    Args:
        layer (BaseTunerLayer): peft layer around the attention module,
            whose ``out_proj`` is itself a peft layer.
        deltas_in (Sequence[Tensor]): updates of ``in_proj_weight``.
        deltas_out (Sequence[Tensor]): updates of ``out_proj.weight``.
        query (Tensor): first positional argument of the attention.
        args (tuple): its other positional arguments.
        kwargs (dict): its keyword arguments.
    """
    base = layer.get_base_layer()
    w_in = base.in_proj_weight
    w_out = base.out_proj.get_base_layer().weight
    new_in = w_in + sum(d.to(w_in.dtype) for d in deltas_in)
    new_out = w_out + sum(d.to(w_out.dtype) for d in deltas_out)
    # MultiheadAttention.forward reads `self.out_proj.weight`, which the
    # peft wrapper forwards to `out_proj.base_layer.weight`
    return functional_call(base, {
        'in_proj_weight': new_in,
        'out_proj.base_layer.weight': new_out
    }, (query, ) + tuple(args), kwargs)


class ExactLoraMultiheadAttention(LoraMultiheadAttention):
    """peft's LoRA ``MultiheadAttention`` with an exact forward.

    peft 0.21 applies LoRA to ``nn.MultiheadAttention`` by merging
    ``W + BA`` into the frozen weights before each forward and subtracting
    it afterwards, re-registering *new* Parameter objects: in fp32
    ``(W + d) - d != W``, so the "frozen" ``in_proj_weight`` /
    ``out_proj.weight`` drift by rounding at every step, and their Parameter
    identity changes on every forward and every ``named_modules()`` call.
    Here the adapted weights only exist for the duration of the call
    (:func:`mha_forward`).

    Dispatched through peft's ``LoraConfig._register_custom_module``.

    Example:
        >>> config = LoraConfig(r=4, target_modules=['attn'])
        >>> config._register_custom_module(
        ...     {nn.MultiheadAttention: ExactLoraMultiheadAttention})
    """

    def forward(self, query: torch.Tensor, *args, **kwargs):
        adapters = _active(self)
        if self.disable_adapters or self.merged or not adapters:
            return super().forward(query, *args, **kwargs)
        self._check_forward_args(query, *args, **kwargs)
        out_proj = self.get_base_layer().out_proj
        return mha_forward(self, [self.get_delta_weight(a) for a in adapters],
                           [out_proj.get_delta_weight(a) for a in adapters],
                           query, args, kwargs)

    def _restore_weights(self):
        # only needed after an explicit merge(); otherwise re-registering
        # would replace the frozen Parameters by new objects
        if self.merged:
            super()._restore_weights()


class SVDMultiheadAttention(nn.Module, AdaLoraLayer):
    """AdaLoRA (SVD form ``P diag(E) Q``) on ``nn.MultiheadAttention``.

    One triplet on ``in_proj_weight`` (q, k, v stacked, 3d x d) held here
    and one on ``out_proj`` (a peft ``SVDLinear``), both seen by peft's
    ``RankAllocator``; the forward is exact (:func:`mha_forward`). peft
    0.21's AdaLoRA does not support this module. Merging is not supported.

    Args:
        base_layer (nn.MultiheadAttention): the attention to adapt.
        adapter_name (str): peft adapter name.
        config (AdaLoraConfig): the AdaLoRA config.
        r (int): initial rank. Defaults to 0.
        lora_alpha (int): scaling numerator. Defaults to 1.

    Example:
        >>> # built by AdaLoraMHAModel for a `target_modules` entry that
        >>> # names an nn.MultiheadAttention (open_clip ViT: 'attn')
        >>> peft_cfg = dict(init_r=8, target_r=4, target_modules=['attn'])
    """

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
        return (self.lora_B[adapter]
                @ (self.lora_A[adapter] * self.lora_E[adapter]) *
                self.scaling[adapter] / (self.ranknum[adapter] + 1e-5))

    def merge(self, *args, **kwargs):
        raise NotImplementedError(
            'merging AdaLoRA into nn.MultiheadAttention is not supported')

    def unmerge(self, *args, **kwargs):
        raise NotImplementedError(
            'merging AdaLoRA into nn.MultiheadAttention is not supported')

    def forward(self, query: torch.Tensor, *args, **kwargs):
        base = self.get_base_layer()
        adapters = _active(self)
        if self.disable_adapters or not adapters:
            return base(query, *args, **kwargs)
        return mha_forward(
            self, [self.get_delta_weight(a) for a in adapters],
            [base.out_proj.get_delta_weight(a)
             for a in adapters], query, args, kwargs)

    def __repr__(self) -> str:
        return 'adalora.' + super().__repr__()


def match_conv_dilation(model: nn.Module) -> None:
    """Give every LoRA ``Conv2d`` adapter's ``lora_A`` its base layer's
    dilation.

    peft builds ``lora_A`` with the base layer's kernel, stride and padding
    but not its dilation, so on a dilated convolution (DeepLab's
    output-stride-8 ResNet) the two branches disagree in size. With the
    base dilation the adapter is exactly the dilated convolution with
    weight B·A.

    Args:
        model (nn.Module): a model with LoRA adapters injected.
    """
    for module in model.modules():
        base = getattr(module, 'base_layer', None)
        lora_a = getattr(module, 'lora_A', None)
        if isinstance(base, nn.Conv2d) and lora_a is not None:
            for conv in lora_a.values():
                conv.dilation = base.dilation
