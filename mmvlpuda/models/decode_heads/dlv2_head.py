"""DeepLab-V2 classifier head for mmseg 1.x (segmentation appendix).

Port of DAFormer's ``mmseg/models/decode_heads/dlv2_head.py`` (Hoyer et al.
2022) onto mmseg 1.2.2: mmseg 1.x has no DeepLab-V2 head, and its
``BaseDecodeHead.loss_by_feat`` never passes a per-pixel loss weight, which
DACS needs for its pseudo-label confidence weight.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.structures import PixelData
from mmseg.models.decode_heads.aspp_head import ASPPModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from torch import Tensor

from mmvlpuda.registry import MODELS

# Arguments of BaseDecodeHead that the DeepLab-V2 classifier fixes.
_FORCED_ARGS = dict(channels=1, dropout_ratio=0, norm_cfg=None)


def _pixel_weight(data_sample) -> Optional[Tensor]:
    """The ``seg_weight`` field of one data sample as an ``(H, W)`` tensor.

    Args:
        data_sample (SegDataSample): sample that may hold ``seg_weight``,
            either a :obj:`PixelData` whose ``data`` is ``(1, H, W)`` or a
            plain tensor ``(1, H, W)`` / ``(H, W)``.

    Returns:
        Tensor | None: the weight map, or None if the sample has none.
    """
    weight = data_sample.get('seg_weight', None)
    if weight is None:
        return None
    if isinstance(weight, PixelData):
        weight = weight.data
    weight = torch.as_tensor(weight)
    if weight.dim() == 3 and weight.shape[0] == 1:
        weight = weight[0]
    if weight.dim() != 2:
        raise ValueError('seg_weight must have shape (1, H, W) or (H, W), '
                         f'got {tuple(weight.shape)}')
    return weight


def stack_pixel_weights(batch_data_samples: Sequence,
                        seg_label: Tensor) -> Optional[Tensor]:
    """Stack the per-pixel loss weights of a batch (DACS pseudo-label
    confidence weight, DAFormer ``forward_train(..., seg_weight)``).

    Samples without ``seg_weight`` get weight 1 on every pixel.

    Args:
        batch_data_samples (Sequence[SegDataSample]): the batch.
        seg_label (Tensor): stacked labels ``(B, 1, H, W)``; gives the
            expected size and device.

    Returns:
        Tensor | None: float weights ``(B, H, W)``, or None if no sample of
        the batch has a ``seg_weight`` (stock mmseg behaviour).
    """
    weights = [_pixel_weight(s) for s in batch_data_samples]
    if all(w is None for w in weights):
        return None
    size = tuple(seg_label.shape[-2:])
    stacked = []
    for weight in weights:
        if weight is None:
            weight = seg_label.new_ones(size, dtype=torch.float)
        if tuple(weight.shape) != size:
            raise ValueError(f'seg_weight of shape {tuple(weight.shape)} '
                             f'does not match the label size {size}')
        stacked.append(weight.to(seg_label.device, torch.float))
    return torch.stack(stacked)


@MODELS.register_module()
class DLV2Head(BaseDecodeHead):
    """DeepLab-V2 classifier: one dilated 3x3 conv (with bias) per rate
    straight to the class logits, branch outputs summed (Chen et al. 2017;
    DAFormer ``DLV2Head``).

    The head fixes ``channels=1``, ``dropout_ratio=0`` and ``norm_cfg=None``
    and has no ``conv_seg``. The default ``dilations=(6, 12, 18, 24)`` is
    DeepLab-V2; DAFormer's ``dlv2red`` (what previous UDA code effectively
    ran) uses ``(6, 12)``. Branches output ``out_channels`` (= num_classes
    except for binary segmentation with ``out_channels=1``).

    Unlike mmseg 1.x heads, :meth:`loss_by_feat` passes an optional
    per-pixel weight stored on each data sample as ``seg_weight`` to the
    losses (DACS pseudo-label confidence weighting); the class attribute
    ``supports_seg_weight = True`` advertises this to UDA segmentors.

    Args:
        dilations (Sequence[int]): dilation rate of each ASPP branch.
        init_cfg (dict | list[dict]): initialisation config; the default
            N(0, 0.01) weights and zero biases of the ASPP convs.
        loss_decode (dict | Sequence[dict]): loss config(s); the default is
            scoped (``mmseg.CrossEntropyLoss``) so the head builds under any
            default scope.
        **kwargs: other :class:`BaseDecodeHead` arguments (``in_channels``,
            ``in_index``, ``num_classes``, ...). ``channels``,
            ``dropout_ratio`` and ``norm_cfg`` may only be given with their
            forced values.

    Example:
        >>> # under default_scope='mmseg' (e.g. an EncoderDecoder config)
        >>> decode_head = dict(
        ...     type='mmvlpuda.DLV2Head',
        ...     in_channels=2048,
        ...     in_index=3,
        ...     dilations=(6, 12),
        ...     num_classes=19,
        ...     align_corners=False,
        ...     loss_decode=dict(
        ...         type='CrossEntropyLoss', use_sigmoid=False,
        ...         loss_weight=1.0))
    """

    supports_seg_weight = True

    def __init__(self,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 init_cfg=dict(
                     type='Normal',
                     std=0.01,
                     override=dict(name='aspp_modules')),
                 loss_decode=dict(
                     type='mmseg.CrossEntropyLoss',
                     use_sigmoid=False,
                     loss_weight=1.0),
                 **kwargs):
        for key, value in _FORCED_ARGS.items():
            if key in kwargs and kwargs[key] != value:
                raise ValueError(f'DLV2Head forces {key}={value!r}, '
                                 f'got {kwargs[key]!r}')
            kwargs[key] = value
        super().__init__(init_cfg=init_cfg, loss_decode=loss_decode, **kwargs)
        del self.conv_seg
        assert isinstance(self.in_channels, int), \
            'DLV2Head takes a single feature map (input_transform=None)'
        self.dilations = tuple(dilations)
        self.aspp_modules = ASPPModule(
            self.dilations,
            self.in_channels,
            self.out_channels,
            conv_cfg=self.conv_cfg,
            norm_cfg=None,
            act_cfg=None)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Sum of the ASPP branch logits (stride of the input feature).

        Args:
            inputs (list[Tensor]): multi-level features.

        Returns:
            Tensor: logits ``(B, out_channels, h, w)``.
        """
        x = self._transform_inputs(inputs)
        outs = self.aspp_modules(x)
        logits = outs[0]
        for out in outs[1:]:
            logits = logits + out
        return logits

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: Sequence) -> dict:
        """Segmentation losses with optional per-pixel weights.

        Same as :meth:`BaseDecodeHead.loss_by_feat` (logits resized to the
        label size, losses summed per ``loss_name``, ``acc_seg``), except
        that the ``seg_weight`` of the data samples (see
        :func:`stack_pixel_weights`) is passed to each loss as ``weight``,
        multiplied with the pixel sampler's weight if a sampler is set.
        With mmseg's ``CrossEntropyLoss`` (``avg_non_ignore=False``) the
        loss is the weighted mean over all pixels, as in DAFormer.

        Args:
            seg_logits (Tensor): output of :meth:`forward`.
            batch_data_samples (list[SegDataSample]): samples with
                ``gt_sem_seg`` and optionally ``seg_weight``.

        Returns:
            dict[str, Tensor]: loss components and ``acc_seg``.
        """
        seg_label = self._stack_batch_gt(batch_data_samples)
        seg_logits = resize(
            input=seg_logits,
            size=seg_label.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        seg_weight = None
        if self.sampler is not None:
            seg_weight = self.sampler.sample(seg_logits, seg_label)
        pixel_weight = stack_pixel_weights(batch_data_samples, seg_label)
        if pixel_weight is not None:
            seg_weight = pixel_weight if seg_weight is None \
                else seg_weight * pixel_weight
        seg_label = seg_label.squeeze(1)

        losses_decode = self.loss_decode
        if not isinstance(losses_decode, nn.ModuleList):
            losses_decode = [losses_decode]
        loss = dict()
        for loss_decode in losses_decode:
            value = loss_decode(
                seg_logits,
                seg_label,
                weight=seg_weight,
                ignore_index=self.ignore_index)
            name = loss_decode.loss_name
            loss[name] = loss[name] + value if name in loss else value
        loss['acc_seg'] = accuracy(
            seg_logits, seg_label, ignore_index=self.ignore_index)
        return loss
