from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmvlpuda.registry import MODELS


@MODELS.register_module()
class TaskHead(BaseModule):
    """Trainable classifier of the CMKD student: BN1d -> LN -> Linear.

    As in the official code (``models/make_model.py:11-19,38-42`` of
    Wenlve-Zhou/VLP-UDA; App. D: "the bias remains fixed"): the BatchNorm1d
    affine weight starts at 1 and trains, its bias is fixed to 0 and frozen
    (running statistics update in train mode); the LayerNorm uses eps=1e-6;
    the Linear layer has no bias and is initialised from N(0, 0.001^2).

    Args:
        in_channels (int): feature dimension of the backbone.
        num_classes (int): number of classes.
        init_std (float): std of the Linear init. Defaults to 0.001.
        batch_norm (bool): keep the BN1d. Without it the head is
            LN -> Linear; use that for ReLU backbones (e.g. EfficientNet)
            whose pooled features have near-dead channels: BN1d running
            variances of ~1e-7 then blow single channels up at evaluation
            (train-mode batch statistics hide it). Defaults to True.
        init_cfg (dict, optional): Defaults to None.

    Example:
        >>> head = dict(type='TaskHead', in_channels=1024, num_classes=65)
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 init_std: float = 0.001,
                 batch_norm: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.init_std = init_std
        self.bn = nn.BatchNorm1d(in_channels) if batch_norm else None
        self.ln = nn.LayerNorm(in_channels, eps=1e-6)
        self.fc = nn.Linear(in_channels, num_classes, bias=False)
        self._reset()

    def _reset(self):
        if self.bn is not None:
            nn.init.ones_(self.bn.weight)
            nn.init.zeros_(self.bn.bias)
            self.bn.bias.requires_grad_(False)
        nn.init.normal_(self.fc.weight, std=self.init_std)

    def init_weights(self):
        super().init_weights()
        if self.init_cfg is None:
            self._reset()

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if self.bn is not None:
            feats = self.bn(feats)
        return self.fc(self.ln(feats))
