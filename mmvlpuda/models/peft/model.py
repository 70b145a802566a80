"""The AdaLoRA tuner (cf. peft's ``tuners/adalora/model.py``) with
``nn.MultiheadAttention`` support."""
import torch.nn as nn
from peft.tuners.adalora import AdaLoraModel
from peft.tuners.tuners_utils import BaseTunerLayer

from .layer import SVDMultiheadAttention


class AdaLoraMHAModel(AdaLoraModel):
    """peft's ``AdaLoraModel`` that also adapts ``nn.MultiheadAttention``
    (with :class:`SVDMultiheadAttention`); every other module type goes
    through peft's own dispatch.

    Example:
        >>> config = AdaLoraConfig(init_r=8, target_r=4, total_step=100,
        ...                        target_modules=['attn', 'c_fc'])
        >>> tuner = AdaLoraMHAModel(vit, config, 'default')
    """

    @staticmethod
    def _create_new_module(lora_config, adapter_name, target, **kwargs):
        base = target.get_base_layer() if isinstance(
            target, BaseTunerLayer) else target
        if isinstance(base, nn.MultiheadAttention):
            kwargs.pop('device_map', None)
            return SVDMultiheadAttention(
                target, adapter_name, config=lora_config, **kwargs)
        return AdaLoraModel._create_new_module(lora_config, adapter_name,
                                               target, **kwargs)
