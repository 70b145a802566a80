from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmvlpuda.registry import MODELS
from ..backbones.timm_imagenet import create_timm_model


@MODELS.register_module()
class ImageNetPrototypeHead(BaseModule):
    r"""Teacher for backbones without a text tower (paper App. E, after
    Co-tuning): class prototypes over the ImageNet label space.

    .. math:: p_g(y=i|x) = \mathrm{softmax}_i\big(-KL(M_i \,\|\,
              q(x))\big), \quad q(x) = \mathrm{softmax}(l(f(x)) / T)

    ``l`` is the frozen ImageNet classifier of the pretrained model, ``f``
    the (trainable) student features, ``M_i`` the category-relationship
    prototype of class ``i`` (mean ImageNet distribution of its labeled
    source images) and ``T`` a temperature calibrated on held-out source
    images (:meth:`fit`, run by :class:`PrototypeFitHook`). ``forward``
    returns the logits :math:`-KL(M_i \| q(x))`.

    Args:
        num_classes (int): number of task classes.
        model_name (str): timm model whose classifier is ``l`` (defaults to
            the backbone's in :class:`CMKDClassifier`).
        checkpoint (str, optional): its weight file (see
            :class:`TimmImageNetBackbone`).
        eps (float): smoothing of the prototypes. Defaults to 1e-6.
        init_cfg (dict, optional): Defaults to None.

    Example:
        >>> text_head = dict(type='ImageNetPrototypeHead', num_classes=10)
    """

    def __init__(self,
                 num_classes: int,
                 model_name: str = 'tf_efficientnet_lite0',
                 checkpoint: Optional[str] = None,
                 eps: float = 1e-6,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        classifier = create_timm_model(model_name, checkpoint).get_classifier()
        self.register_buffer('cls_weight', classifier.weight.detach().clone())
        self.register_buffer('cls_bias', classifier.bias.detach().clone())
        num_imagenet = self.cls_weight.shape[0]
        self.register_buffer(
            'prototypes',
            torch.full((num_classes, num_imagenet), 1. / num_imagenet))
        self.register_buffer('temperature', torch.tensor(1.))
        self.register_buffer('fitted', torch.tensor(False))
        self.eps = eps

    @property
    def num_classes(self) -> int:
        return self.prototypes.shape[0]

    def imagenet_log_probs(self,
                           feats: torch.Tensor,
                           temperature=None) -> torch.Tensor:
        t = self.temperature if temperature is None else temperature
        return F.log_softmax(
            F.linear(feats.float(), self.cls_weight, self.cls_bias) / t, dim=1)

    @staticmethod
    def _logits(log_q: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        # -KL(M_i || q) = sum_k M_ik log q_k - sum_k M_ik log M_ik
        neg_entropy = (protos * protos.log()).sum(dim=1)
        return log_q @ protos.t() - neg_entropy

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self._logits(self.imagenet_log_probs(feats), self.prototypes)

    def _prototypes(self, log_q: torch.Tensor,
                    labels: torch.Tensor) -> torch.Tensor:
        counts = torch.bincount(labels, minlength=self.num_classes)
        if (counts == 0).any():
            missing = int(torch.nonzero(counts == 0)[0])
            raise ValueError(f'ImageNetPrototypeHead.fit: class {missing} '
                             'has no fitting sample')
        sums = torch.zeros_like(self.prototypes).index_add_(
            0, labels, log_q.exp())
        protos = sums / counts[:, None] + self.eps
        return protos / protos.sum(dim=1, keepdim=True)

    @torch.no_grad()
    def fit(
        self,
        feats_fit: torch.Tensor,
        labels_fit: torch.Tensor,
        feats_val: torch.Tensor,
        labels_val: torch.Tensor,
        temperatures: Sequence[float] = (0.25, 0.5, 1., 2., 4., 8., 16.)
    ) -> float:
        """Set the prototypes from the fit split and choose the temperature
        with the lowest teacher NLL on the validation split.

        Returns:
            float: validation accuracy of the fitted teacher.
        """
        best = None
        for t in temperatures:
            protos = self._prototypes(
                self.imagenet_log_probs(feats_fit, t), labels_fit)
            logits = self._logits(
                self.imagenet_log_probs(feats_val, t), protos)
            nll = F.cross_entropy(logits, labels_val).item()
            if best is None or nll < best[0]:
                acc = (logits.argmax(1) == labels_val).float().mean().item()
                best = (nll, t, protos, acc)
        _, t, protos, acc = best
        self.prototypes.copy_(protos)
        self.temperature.fill_(t)
        self.fitted.fill_(True)
        return acc
