"""FixMatch consistency on the target domain combined with CMKD (paper
App. B; official ``models/make_model.py``).

Pseudo-labels come from the weak target view of BOTH heads of the CMKD
model: the student task head (p_h) and the CLIP text head (p_g). Each head is
trained on the strong view of the same images towards its own pseudo-labels.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvlpuda.registry import MODELS
from .cmkd_loss import class_index


def pseudo_labels(
    probs: torch.Tensor,
    threshold: float,
    label_set: Optional[Sequence[int]] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""Hard pseudo-labels and confidence mask of a weak view.

    .. math:: \hat y_i = \arg\max_c p_{ic}, \qquad
              m_i = \mathbb{1}[\max_c p_{ic} \ge \tau_{fm}]

    With a partial-set ``label_set`` the probabilities of the complementary
    classes are set to 0 first (no renormalisation, official code), so
    pseudo-labels are always kept classes and the mask compares the kept
    class probability with ``threshold``.

    Args:
        probs (Tensor): weak-view probabilities ``(N, C)``.
        threshold (float): τ_fm; a probability exactly at it counts (≥).
        label_set (Sequence[int], optional): kept classes, None = all.

    Returns:
        tuple[Tensor, Tensor]: detached labels ``(N,)`` (long) and mask
        ``(N,)`` (float, 0/1).
    """
    probs = probs.detach()
    if label_set is not None:
        keep = torch.zeros(
            probs.shape[1], dtype=torch.bool, device=probs.device)
        keep[class_index(label_set, probs.device)] = True
        probs = probs.masked_fill(~keep, 0.)
    max_prob, labels = probs.max(dim=1)
    return labels, max_prob.ge(threshold).float()


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                         mask: torch.Tensor) -> torch.Tensor:
    r"""Mean over the WHOLE batch of the masked CE (masked entries count as 0
    in the mean, official code).

    .. math:: \frac{1}{N} \sum_i m_i \, CE(z_i, \hat y_i)
    """
    ce = F.cross_entropy(logits.float(), labels, reduction='none')
    return (ce * mask).mean()


@MODELS.register_module()
class FixMatchLoss(nn.Module):
    r"""FixMatch term added to the CMKD transfer loss (paper App. B).

    .. math::
        L_{fm} = \lambda_{fm} \frac{1}{N}\sum_i \mathbb{1}[\max p_h(x^w_i)
                 \ge \tau_{fm}]\, CE(h(f(x^s_i)), \hat y^h_i)
               + \lambda_{fm} \frac{1}{N}\sum_i \mathbb{1}[\max p_g(x^w_i)
                 \ge \tau_{fm}]\, CE(g(f(x^s_i)), \hat y^g_i)

    ``x^w``/``x^s`` are the weak/strong views of the same target images,
    ``h`` the task head, ``g`` the text (zero-shot) head and
    :math:`\hat y^h, \hat y^g` the arg-max pseudo-labels of each head on the
    weak view. Pseudo-labels and masks carry no gradient; the strong-view
    logits do.

    Paper values (App. B): λ_fm/τ_fm = 0.5/0.95 (default, Office-Home,
    Office-31, ImageCLEF), VisDA 2.0/0.80, DomainNet 0.1/0.95.

    Args:
        weight (float): λ_fm. Defaults to 0.5.
        threshold (float): τ_fm (≥). Defaults to 0.95.

    Inputs:
        - probs_task_weak: task-head probabilities on the weak view (N, C).
        - probs_text_weak: text-head probabilities on the weak view (N, C).
        - logits_task_strong: task-head logits on the strong view (N, C).
        - logits_text_strong: text-head logits on the strong view (N, C).
        - label_set: partial-set kept classes, or None.

    Returns:
        dict: ``loss_fm_task``, ``loss_fm_text`` and the detached fractions
        of confident (masked-in) samples ``fm_mask_task``, ``fm_mask_text``
        (logged, not optimised: their names do not contain ``loss``).

    Example:
        >>> loss = FixMatchLoss(weight=0.5, threshold=0.95)
        >>> p = torch.tensor([[0.96, 0.04], [0.5, 0.5]])
        >>> out = loss(p, p, torch.randn(2, 2), torch.randn(2, 2))
        >>> float(out['fm_mask_task'])
        0.5
    """

    def __init__(self, weight: float = 0.5, threshold: float = 0.95):
        super().__init__()
        if not 0. <= threshold <= 1.:
            raise ValueError(f'FixMatchLoss threshold must be in [0, 1], got '
                             f'{threshold} (key `threshold`)')
        self.weight = weight
        self.threshold = threshold

    def forward(
            self,
            probs_task_weak: torch.Tensor,
            probs_text_weak: torch.Tensor,
            logits_task_strong: torch.Tensor,
            logits_text_strong: torch.Tensor,
            label_set: Optional[Sequence[int]] = None
    ) -> Dict[str, torch.Tensor]:
        out = {}
        for name, probs, logits in (
            ('task', probs_task_weak, logits_task_strong),
            ('text', probs_text_weak, logits_text_strong),
        ):
            if probs.shape != logits.shape:
                raise ValueError(
                    f'FixMatchLoss: weak {name} probabilities '
                    f'{tuple(probs.shape)} and strong logits '
                    f'{tuple(logits.shape)} differ (the strong view must '
                    'pair every weak target image)')
            labels, mask = pseudo_labels(probs, self.threshold, label_set)
            out[f'loss_fm_{name}'] = self.weight * masked_cross_entropy(
                logits, labels, mask)
            out[f'fm_mask_{name}'] = mask.mean()
        return out
