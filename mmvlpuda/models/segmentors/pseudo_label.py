"""Target pseudo-labels of self-training segmentors (DACS, CMKD-seg).

From the teacher's segmentor output to per-pixel class distributions
(:func:`class_probabilities`), then to pseudo-labels and their confidence
weight (:func:`pseudo_label_and_weight`, DAFormer's
``mmseg/models/uda/dacs.py`` rule).
"""
from typing import Tuple

import torch
import torch.nn as nn
from torch import Tensor


def is_mask_classification(head: nn.Module) -> bool:
    """Whether ``head``'s ``predict`` output (``encode_decode``) is
    mask-classification scores rather than logits.

    A head declares it with a ``mask_classification`` attribute (class
    attribute, like :class:`DLV2Head`'s ``supports_seg_weight``); without
    one, the answer is ``isinstance`` of mmseg's ``MaskFormerHead`` /
    ``Mask2FormerHead`` (which return ``sum_q softmax(cls_q) *
    sigmoid(mask_q)`` per class).

    Args:
        head (nn.Module): the decode head.
    """
    declared = getattr(head, 'mask_classification', None)
    if declared is not None:
        return bool(declared)
    from mmseg.models.decode_heads import Mask2FormerHead, MaskFormerHead
    return isinstance(head, (MaskFormerHead, Mask2FormerHead))


def class_probabilities(seg_logits: Tensor,
                        mask_classification: bool = False) -> Tensor:
    """Per-pixel class distributions of ``encode_decode`` outputs
    ``(B, C, H, W)``: softmax of logits, or the mask-classification scores
    (non-negative, not summing to 1) normalised over classes.

    Args:
        seg_logits (Tensor): segmentor output ``(B, C, H, W)``.
        mask_classification (bool): the output is mask-classification
            scores (:func:`is_mask_classification`). Defaults to False.

    Returns:
        Tensor: ``(B, C, H, W)`` summing to 1 over ``C``.
    """
    if mask_classification:
        return seg_logits / seg_logits.sum(
            1, keepdim=True).clamp_min(torch.finfo(seg_logits.dtype).tiny)
    return seg_logits.softmax(dim=1)


def pseudo_label_and_weight(probs: Tensor,
                            threshold: float = 0.968,
                            ignore_top: int = 0,
                            ignore_bottom: int = 0) -> Tuple[Tensor, Tensor]:
    """Target pseudo-labels and their confidence weight: DAFormer ``DACS``
    (``forward_train`` pseudo-labelling and plcrop; MIC
    ``get_pseudo_label_and_weight``).

    Labels are the arg-max of the teacher's probabilities; the weight is
    ONE scalar for the whole batch, the fraction of pixels whose max
    probability is ``>= threshold``, broadcast to every pixel. Rows
    ``[:ignore_top]`` and ``[-ignore_bottom:]`` get weight 0 (DAFormer
    plcrop: 15 / 120 for Cityscapes targets).

    Args:
        probs (Tensor): softmax probabilities ``(B, C, H, W)``.
        threshold (float): confidence threshold τ (DAFormer 0.968).
        ignore_top (int): rows at the top with weight 0.
        ignore_bottom (int): rows at the bottom with weight 0.

    Returns:
        tuple[Tensor, Tensor]: labels ``(B, H, W)`` long and weights
        ``(B, H, W)`` float, both detached.
    """
    max_prob, labels = probs.detach().max(dim=1)
    confident = max_prob.ge(threshold).float().mean()
    weight = confident * torch.ones_like(max_prob, dtype=torch.float)
    if ignore_top > 0:
        weight[:, :ignore_top, :] = 0
    if ignore_bottom > 0:
        weight[:, -ignore_bottom:, :] = 0
    return labels.long(), weight
