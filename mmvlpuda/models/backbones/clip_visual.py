from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmvlpuda.registry import MODELS
from ..utils.open_clip_loader import create_open_clip


@MODELS.register_module()
class CLIPVisualBackbone(BaseModule):
    """Image tower of an open_clip CLIP model (the CMKD student encoder).

    Only the image tower is kept; the text tower of the same model is
    consumed once by :class:`TextZeroShotHead` and never stored here.

    Args:
        arch (str): open_clip model name (``'RN50'``, ``'RN101'``,
            ``'ViT-B-16'``, any other), ``local-dir:``/``hf-hub:`` reference or
            a ``.json`` model config path. Defaults to ``'RN50'``.
        pretrained (str, optional): open_clip pretrained tag (``'openai'``)
            or local weight file; None for random init. Defaults to None.
        quick_gelu (bool, optional): force QuickGELU; None = automatic
            (True for OpenAI weights). Defaults to None.
        image_size (int, optional): override the input size. Defaults to None.
        norm_eval (bool): keep BatchNorm layers in eval mode during training
            (frozen running statistics, as the paper does for ResNets; the
            affine weights still train). Defaults to True.
        frozen (bool): freeze all parameters (linear probe / zero-shot).
            Defaults to False.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Example:
        >>> backbone = dict(type='CLIPVisualBackbone', arch='ViT-B-16',
        ...                 pretrained='openai')
    """

    def __init__(self,
                 arch: str = 'RN50',
                 pretrained: Optional[str] = None,
                 quick_gelu: Optional[bool] = None,
                 image_size: Optional[int] = None,
                 norm_eval: bool = True,
                 frozen: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch = arch
        self.pretrained = pretrained
        clip = create_open_clip(arch, pretrained, quick_gelu, image_size)
        self.visual = clip.visual
        del clip
        self.embed_dims = self._infer_embed_dims()
        self.norm_eval = norm_eval
        self.frozen = frozen
        if frozen:
            self.visual.requires_grad_(False)

    def _infer_embed_dims(self) -> int:
        dims = getattr(self.visual, 'output_dim', None)
        if dims is not None:
            return int(dims)
        size = self.visual.image_size
        size = size if isinstance(size, (tuple, list)) else (size, size)
        with torch.no_grad():
            return int(self.visual(torch.zeros(1, 3, *size)).shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the projected (un-normalised) image embedding (N, D)."""
        return self.visual(x)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and (self.norm_eval or self.frozen):
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self
