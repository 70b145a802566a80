"""Target pseudo-labels (mmvlpuda.models.segmentors.pseudo_label):
DAFormer's confidence weight with plcrop, class distributions of logits and
of mask-classification scores."""
import torch
import torch.nn as nn

import mmvlpuda  # noqa: F401  (installs compatibility shims, registers)
from mmvlpuda.models.segmentors.pseudo_label import (class_probabilities,
                                                     is_mask_classification,
                                                     pseudo_label_and_weight)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_pseudo_label_weight_is_batch_fraction_above_threshold():
    probs = torch.full((2, 3, 4, 5), 0.1)
    probs[:, 1] = 0.8  # class 1, not confident
    probs[0, :, :2] = torch.tensor([0.01, 0.01, 0.98]).view(3, 1, 1)
    probs[1, :, 0, :2] = torch.tensor([0.016, 0.016, 0.968]).view(3, 1)
    labels, weight = pseudo_label_and_weight(probs, threshold=0.968)
    assert labels.dtype == torch.long and labels.shape == (2, 4, 5)
    assert torch.all(labels[0, :2] == 2) and torch.all(labels[0, 2:] == 1)
    confident = (10 + 2) / 40  # image 0: 10 px, image 1: 2 px (== τ counts)
    assert weight.shape == (2, 4, 5) and weight.dtype == torch.float
    assert torch.allclose(weight, torch.full_like(weight, confident))


def test_pseudo_weight_plcrop_rows_are_zero():
    probs = torch.softmax(torch.randn(2, 4, 10, 6, generator=_gen()), 1)
    _, full = pseudo_label_and_weight(probs, threshold=0.5)
    _, cropped = pseudo_label_and_weight(
        probs, threshold=0.5, ignore_top=2, ignore_bottom=3)
    assert torch.all(cropped[:, :2] == 0) and torch.all(cropped[:, -3:] == 0)
    assert torch.equal(cropped[:, 2:-3], full[:, 2:-3])
    assert full.min() > 0


def test_class_probabilities_of_logits_and_mask_scores():
    logits = torch.randn(2, 4, 3, 3, generator=_gen())
    assert torch.allclose(class_probabilities(logits), logits.softmax(1))
    scores = logits.sigmoid()
    probs = class_probabilities(scores, mask_classification=True)
    assert torch.allclose(probs, scores / scores.sum(1, keepdim=True))
    zero = class_probabilities(torch.zeros(1, 4, 2, 2), True)
    assert torch.all(torch.isfinite(zero))


def test_mask_classification_is_declared_or_mmseg_class():
    """Decided by a declared attribute or by mmseg's MaskFormer /
    Mask2Former classes, never by the class name."""
    from mmseg.models.decode_heads import Mask2FormerHead, MaskFormerHead

    class MaskLikeHead(nn.Module):  # name and num_queries: not enough
        num_queries = 100

    class DeclaredHead(nn.Module):
        mask_classification = True

    assert not is_mask_classification(MaskLikeHead())
    assert is_mask_classification(DeclaredHead())
    for cls in (MaskFormerHead, Mask2FormerHead):
        head = cls.__new__(cls)  # no build: the class decides
        nn.Module.__init__(head)
        assert is_mask_classification(head)
    head = Mask2FormerHead.__new__(Mask2FormerHead)
    nn.Module.__init__(head)
    head.mask_classification = False  # a declaration wins
    assert not is_mask_classification(head)
