"""Cross-modal knowledge distillation (CMKD) loss, paper Sec. III-B.

Two variants are implemented (``variant=``):

* ``'upstream'`` (default): what the official code computes. Gini impurity is
  batch-normalised and summed over the batch (:func:`batch_gini_impurity`),
  the confidence coefficient uses KL(p_g || p_h).
* ``'paper'``: the formulas as printed. Per-sample Gini impurity
  (:func:`gini_impurity`) averaged over the batch, coefficient from
  KL(p_h || p_g).

Both variants share the ramp (saturating at ``ramp_iters``), the 50/50 mixed
distribution and the regulariser; only the λ3 target term keeps its gradient
into the teacher (it regularises the drifting teacher view).
"""
import functools
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvlpuda.registry import MODELS

VARIANTS = ('upstream', 'paper')


def gini_impurity(probs: torch.Tensor) -> torch.Tensor:
    r"""Per-sample Gini impurity, paper Eq. (4).

    .. math:: GI(p) = 1 - \sum_c p_c^2

    Args:
        probs (Tensor): probabilities ``(N, C)``.

    Returns:
        Tensor: ``(N,)``.
    """
    return 1. - probs.pow(2).sum(dim=1)


def batch_gini_impurity(
        probs: torch.Tensor,
        weight: Union[torch.Tensor, float] = 1.) -> torch.Tensor:
    r"""Batch-normalised, batch-summed Gini impurity of the official code
    (its form of paper Eq. (4)).

    .. math:: GI_b(P, w) = \sum_i w_i \Big(1 - \sum_c P_{ic}^2 / S_c\Big),
              \quad S_c = \mathrm{sg}\Big(\sum_i P_{ic}\Big)

    Dividing by the detached column mass rewards class diversity in the batch
    as well as confidence (≈ B − number of distinct predicted classes).

    Args:
        probs (Tensor): probabilities ``(N, C)``.
        weight (Tensor | float): per-sample weights ``(N,)``. Defaults to 1.

    Returns:
        Tensor: scalar.
    """
    col_mass = probs.sum(dim=0, keepdim=True).detach()
    per_sample = 1. - (probs.pow(2) / col_mass).sum(dim=1)
    return (weight * per_sample).sum()


def mixed_distribution(p_student: torch.Tensor,
                       p_teacher: torch.Tensor) -> torch.Tensor:
    r"""50/50 mixture of student and stopped teacher, paper Eq. (8).

    .. math:: p_m = \tfrac{1}{2}\,(p_h + \mathrm{sg}(p_g))
    """
    return 0.5 * (p_student + p_teacher.detach())


def confidence_coefficient(p_student: torch.Tensor,
                           p_teacher: torch.Tensor,
                           variant: str = 'upstream') -> torch.Tensor:
    r"""Per-sample weight of the task term, paper Eq. (11).

    ``paper``: :math:`\alpha = \mathrm{sg}(\exp(-KL(p_h \| p_g)))`;
    ``upstream``: :math:`\alpha = \mathrm{sg}(\exp(-KL(p_g \| p_h)))`.

    Returns:
        Tensor: ``(N,)`` detached, in ``[0, 1]``.
    """
    eps = torch.finfo(p_student.dtype).tiny
    p_h, p_g = p_student.detach(), p_teacher.detach()
    if variant == 'paper':
        p, q = p_h, p_g
    else:
        p, q = p_g, p_h
    kl = (p * (p.clamp_min(eps).log() - q.clamp_min(eps).log())).sum(dim=1)
    return torch.exp(-kl.clamp_min(0.))


def ramp_weight(cur_iter: int, ramp_iters: int = 10000) -> float:
    r"""Warm-up factor of λ1 and λ3, paper Eq. (13).

    .. math:: r(t) = \frac{2}{1 + \exp(-\min(t, T)/T)} - 1

    ``t`` is the 0-based iteration; the factor saturates at
    :math:`2/(1+e^{-1})-1 \approx 0.462` once ``t >= T`` (official code).
    """
    if ramp_iters <= 0:
        return 2. / (1. + math.exp(-1.)) - 1.
    t = min(max(int(cur_iter), 0), ramp_iters) / ramp_iters
    return 2. / (1. + math.exp(-t)) - 1.


@functools.lru_cache(maxsize=16)
def _class_index(label_set: Tuple[int, ...],
                 device: torch.device) -> torch.Tensor:
    return torch.tensor(label_set, dtype=torch.long, device=device)


def class_index(label_set: Sequence[int],
                device: torch.device) -> torch.Tensor:
    """The kept classes of partial-set DA as a long tensor on ``device``,
    built once per label set and device (no host-to-device copy, i.e. no
    GPU sync, per training step).

    Args:
        label_set (Sequence[int]): kept class indices (Python ints).
        device (torch.device): where the index is used.
    """
    return _class_index(tuple(int(c) for c in label_set), torch.device(device))


def select_classes(probs: torch.Tensor,
                   label_set: Optional[Sequence[int]]) -> torch.Tensor:
    """Keep only the columns in ``label_set`` (partial-set DA, paper Eq. (9);
    column slicing without renormalisation, as the official code)."""
    if label_set is None:
        return probs
    return probs.index_select(1, class_index(label_set, probs.device))


@MODELS.register_module()
class CMKDLoss(nn.Module):
    r"""CMKD transfer loss, paper Eqs. (4)–(13).

    .. math::
        L_{cmkd} = \lambda_1 r(t) [\alpha L_{task} + (1-\alpha) L_{distill}]
                 + \lambda_2 CE(y_s, p_g^s) + \lambda_3 r(t) GI(p_g^t)

    with :math:`L_{task} = GI(p_h)` on the target student probabilities,
    :math:`L_{distill} = GI(p_m)` on the mixed distribution and α the
    per-sample confidence coefficient.

    Args:
        variant (str): ``'upstream'`` (official code) or ``'paper'``.
            Defaults to ``'upstream'``.
        lambda1 (float): weight of the self-training terms. Defaults to 0.25.
        lambda2 (float): weight of the source regulariser. Defaults to 0.1.
        lambda3 (float): weight of the target regulariser. Defaults to 0.025.
        ramp_iters (int): T of the ramp. Defaults to 10000.

    Inputs:
        - logits_t: student (task head) logits on target ``(N_t, C)``.
        - teacher_logits_t: text-head logits on target ``(N_t, C)``.
        - teacher_logits_s: text-head logits on source ``(N_s, C)``.
        - labels_s: source labels ``(N_s,)``.
        - cur_iter: 0-based training iteration.
        - label_set: kept classes for partial-set DA, or None.

    Returns:
        dict: ``loss_task``, ``loss_distill``, ``loss_reg_src``,
        ``loss_reg_tgt`` (scalars) and the detached per-sample ``alpha``.

    Example:
        >>> loss = CMKDLoss()
        >>> out = loss(torch.randn(4, 3), torch.randn(4, 3),
        ...            torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), 0)
        >>> sorted(out)
        ['alpha', 'loss_distill', 'loss_reg_src', 'loss_reg_tgt', 'loss_task']
    """

    def __init__(self,
                 variant: str = 'upstream',
                 lambda1: float = 0.25,
                 lambda2: float = 0.1,
                 lambda3: float = 0.025,
                 ramp_iters: int = 10000):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(
                f"CMKDLoss variant must be one of {VARIANTS}, got "
                f"'{variant}' (key `variant`)")
        self.variant = variant
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.lambda3 = lambda3
        self.ramp_iters = ramp_iters

    def _gini(self, probs: torch.Tensor, weight: Union[torch.Tensor,
                                                       float]) -> torch.Tensor:
        if self.variant == 'paper':
            return (weight * gini_impurity(probs)).mean()
        return batch_gini_impurity(probs, weight)

    def forward(
            self,
            logits_t: torch.Tensor,
            teacher_logits_t: torch.Tensor,
            teacher_logits_s: torch.Tensor,
            labels_s: torch.Tensor,
            cur_iter: int,
            label_set: Optional[Sequence[int]] = None
    ) -> Dict[str, torch.Tensor]:
        r = ramp_weight(cur_iter, self.ramp_iters)
        p_h = logits_t.float().softmax(dim=1)
        p_g = teacher_logits_t.float().softmax(dim=1)
        alpha = confidence_coefficient(p_h, p_g, self.variant)
        p_h_k = select_classes(p_h, label_set)
        p_g_k = select_classes(p_g, label_set)
        p_m_k = mixed_distribution(p_h_k, p_g_k)
        return dict(
            loss_task=self.lambda1 * r * self._gini(p_h_k, alpha),
            loss_distill=self.lambda1 * r * self._gini(p_m_k, 1. - alpha),
            loss_reg_src=self.lambda2 *
            F.cross_entropy(teacher_logits_s.float(), labels_s),
            loss_reg_tgt=self.lambda3 * r * self._gini(p_g_k, 1.),
            alpha=alpha)
