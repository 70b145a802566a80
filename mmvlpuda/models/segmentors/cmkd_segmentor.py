"""CMKD for semantic segmentation (paper App. L, Cityscapes→ACDC)."""
import copy
from typing import Dict

import torch

from mmvlpuda.models.losses.cmkd_loss import (VARIANTS, confidence_coefficient,
                                              mixed_distribution, ramp_weight)
from mmvlpuda.registry import MODELS
from .dacs import DACS, labeled_samples
from .deprecation import renamed_args
from .pseudo_label import pseudo_label_and_weight


def pixel_rows(probs: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B*H*W, C)`` per-pixel distributions."""
    return probs.permute(0, 2, 3, 1).reshape(-1, probs.shape[1])


def image_confidence(p_student: torch.Tensor,
                     p_teacher: torch.Tensor,
                     variant: str = 'upstream') -> torch.Tensor:
    """Per-image α of App. L: the per-pixel coefficient of Eq. (11)
    (:func:`confidence_coefficient`, ``variant`` and its default as there)
    averaged over the pixels of each image. Returns ``(B,)`` detached
    values in ``[0, 1]``."""
    alpha = confidence_coefficient(
        pixel_rows(p_student), pixel_rows(p_teacher), variant)
    return alpha.view(p_student.shape[0], -1).mean(dim=1)


@MODELS.register_module()
class CMKDSegmentor(DACS):
    r"""CMKD-seg (paper App. L) on top of DACS self-training.

    Three views of a target image :math:`x_t`: the student :math:`F`, its
    EMA teacher :math:`\bar F` (momentum ``ema_momentum``, 0.99) and
    :math:`\check F` = the student's backbone with the FROZEN pretrained
    decode head (a copy of the student's head taken at the first training
    iteration, i.e. after ``load_from``). With per-pixel class
    distributions (Mask2Former scores normalised over classes):

    * :math:`L_{task}`: segmentation loss on the target with pseudo-labels
      :math:`\arg\max \bar F(x_t)`;
    * :math:`L_{distill}`: the same loss with pseudo-labels
      :math:`\arg\max \tfrac12(\bar F(x_t) + \check F(x_t))` (Eq. (8));
    * :math:`\alpha = \mathrm{sg}(\exp(-KL))` per image (Eq. (11) per pixel,
      averaged over the image). ``variant='paper'`` (the CMKD-seg config)
      uses :math:`KL(F \| \check F)` as written in App. L; ``'upstream'``
      (default, as :class:`CMKDLoss`) uses :math:`KL(\check F \| F)` as the
      official classification code;
    * :math:`L = w_{cls} L_{sup} + \lambda(t)\,\tfrac1B\sum_i
      (\alpha_i L_{task,i} + (1-\alpha_i) L_{distill,i})` with
      :math:`\lambda(t) = \lambda_1\,(2/(1+e^{-\min(t,T)/T}) - 1)`
      (Eq. (13), :meth:`cmkd_lambda`), :math:`w_{cls}=0.1`,
      :math:`\lambda_1 = 0.25`,
      :math:`T = 10^4` as the classification code (App. L refers to the
      main text's ramp; official ``main.py``: ``max_iter = 10000``), so
      λ saturates at ≈0.116 after 10k of the 40k iterations.

    Both target terms use the DACS augmentation (ClassMix with the source
    image and its labels, colour jitter, blur) and the DACS confidence
    weight (pixels below it ignored, the loss scaled by it; see
    :class:`DACS`). The per-image terms run the decode head per image on
    shared backbone features.

    Argument names are the classification ones (:class:`CMKDLoss`
    ``lambda1`` / ``variant`` / ``ramp_iters``, :class:`CMKDClassifier`
    ``cls_weight``); the old names ``alpha``, ``sup_weight``,
    ``cmkd_weight``, ``kl_variant`` still work with a
    ``DeprecationWarning``.

    Args:
        model (dict): mmseg segmentor config (``_scope_='mmseg'``).
        ema_momentum (float): EMA momentum cap (formerly ``alpha``).
            Defaults to 0.99.
        cls_weight (float): weight of the source loss (formerly
            ``sup_weight``). Defaults to 0.1.
        lambda1 (float): λ1 of λ(t) (formerly ``cmkd_weight``).
            Defaults to 0.25.
        ramp_iters (int): T of λ(t), the iteration where the ramp
            saturates (not the run length). Defaults to 10000.
        variant (str): ``'paper'`` or ``'upstream'`` (formerly
            ``kl_variant``). Defaults to ``'upstream'``, as
            :class:`CMKDLoss`.
        **kwargs: the remaining :class:`DACS` arguments.

    Example:
        >>> model = dict(type='mmvlpuda.CMKDSegmentor', variant='paper',
        ...              model=dict(_scope_='mmseg', type='EncoderDecoder',
        ...                         decode_head=dict(type='Mask2FormerHead',
        ...                                          ...)))
    """

    @renamed_args(
        alpha='ema_momentum',
        sup_weight='cls_weight',
        cmkd_weight='lambda1',
        kl_variant='variant')
    def __init__(self,
                 model: dict,
                 ema_momentum: float = 0.99,
                 cls_weight: float = 0.1,
                 lambda1: float = 0.25,
                 ramp_iters: int = 10000,
                 variant: str = 'upstream',
                 **kwargs):
        if variant not in VARIANTS:
            raise ValueError(f'CMKDSegmentor variant must be one of '
                             f"{VARIANTS}, got '{variant}' (key `variant`)")
        super().__init__(model, ema_momentum=ema_momentum, **kwargs)
        self.frozen_head = self._frozen(copy.deepcopy(self.model.decode_head))
        self.cls_weight = cls_weight
        self.lambda1 = lambda1
        self.ramp_iters = ramp_iters
        self.variant = variant

    def cmkd_lambda(self, iteration: int) -> float:
        """λ(t) = λ1 · r(t) of the target terms (Eq. (13), the ramp of
        :func:`ramp_weight` over ``ramp_iters``).

        Args:
            iteration (int): 0-based training iteration.
        """
        return self.lambda1 * ramp_weight(iteration, self.ramp_iters)

    def plain_checkpoint_targets(self):
        return super().plain_checkpoint_targets() + [
            ('decode_head.', 'frozen_head.')
        ]

    def _step_teacher(self) -> int:
        it = super()._step_teacher()
        if it == 0:  # the pretrained head becomes the frozen teacher head
            self.frozen_head.load_state_dict(
                self.model.decode_head.state_dict())
        return it

    @torch.no_grad()
    def student_and_frozen_probabilities(self, inputs, data_samples):
        """Class distributions of :math:`F` and :math:`\\check F` on the
        target (one backbone pass)."""
        feats = self.model.extract_feat(inputs)
        metas = [s.metainfo for s in data_samples]
        cfg = self.model.test_cfg
        return (self.class_probabilities(
            self.model.decode_head.predict(feats, metas, cfg)),
                self.class_probabilities(
                    self.frozen_head.predict(feats, metas, cfg)))

    def per_image_loss(self, feats, data_samples, labels: torch.Tensor,
                       weight: torch.Tensor) -> torch.Tensor:
        """``(B,)`` summed decode-head loss of each image."""
        head = self.model.decode_head
        out = []
        for i, sample in enumerate(data_samples):
            lbl, w = labels[i:i + 1], weight[i:i + 1]
            if self.pixel_weights:
                samples = labeled_samples([sample], lbl, w)
                scale = 1.
            else:
                lbl, scale = self.ignore_unweighted(lbl, w)
                samples = labeled_samples([sample], lbl)
            losses = head.loss([f[i:i + 1] for f in feats], samples,
                               self.model.train_cfg)
            out.append(scale * sum(v
                                   for k, v in losses.items() if 'loss' in k))
        return torch.stack(out)

    def target_pseudo_labels(self, inputs: torch.Tensor, data_samples):
        """α (per image), task and distillation pseudo-labels and the DACS
        confidence weight of a target batch (all without gradient)."""
        p_ema = self.teacher_probabilities(inputs, data_samples)
        p_student, p_frozen = self.student_and_frozen_probabilities(
            inputs, data_samples)
        alpha = image_confidence(p_student, p_frozen, self.variant)
        task_labels, weight = pseudo_label_and_weight(p_ema,
                                                      self.pseudo_threshold,
                                                      self.ignore_top,
                                                      self.ignore_bottom)
        distill_labels = mixed_distribution(p_ema, p_frozen).argmax(dim=1)
        return alpha, task_labels, distill_labels, weight

    def loss(self, source: dict, target: dict) -> Dict[str, torch.Tensor]:
        it = self._step_teacher()
        losses = {
            f'src.{k}': v * self.cls_weight if 'loss' in k else v
            for k, v in self.model.loss(source['inputs'],
                                        source['data_samples']).items()
        }
        alpha, task_labels, distill_labels, weight = \
            self.target_pseudo_labels(target['inputs'],
                                      target['data_samples'])
        images, mixed_weight, task_labels, distill_labels = self.mix(
            source, target, weight, task_labels, distill_labels)
        feats = self.model.extract_feat(images)
        samples = target['data_samples']
        l_task = self.per_image_loss(feats, samples, task_labels, mixed_weight)
        l_distill = self.per_image_loss(feats, samples, distill_labels,
                                        mixed_weight)
        lam = self.cmkd_lambda(it)
        losses['tgt.loss_task'] = lam * (alpha * l_task).mean()
        losses['tgt.loss_distill'] = lam * ((1 - alpha) * l_distill).mean()
        losses['alpha'] = alpha.mean()
        losses['pseudo_weight'] = weight.mean()
        return losses
