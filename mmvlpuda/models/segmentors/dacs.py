"""DACS self-training for segmentation UDA, as DAFormer trains it."""
import copy
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData

from mmvlpuda.models.utils.dacs_transforms import (class_mix_masks, one_mix,
                                                   strong_transform)
from mmvlpuda.models.utils.iteration import current_iter
from mmvlpuda.registry import MODELS
from .deprecation import renamed_args
from .ema import disable_drop_, update_ema_
from .pseudo_label import (class_probabilities, is_mask_classification,
                           pseudo_label_and_weight)


def downscale_label_ratio(labels: torch.Tensor,
                          size: Sequence[int],
                          min_ratio: float,
                          num_classes: int,
                          ignore_index: int = 255) -> torch.Tensor:
    """Label of each feature cell: the majority class if it covers at least
    ``min_ratio`` of the cell, else ``ignore_index`` (DAFormer's
    ``downscale_label_ratio`` for the feature distance).

    Args:
        labels (Tensor): ``(B, H, W)`` long.
        size (tuple): feature ``(h, w)``; H, W must be multiples of it.
    """
    valid = labels != ignore_index
    onehot = F.one_hot(labels.clamp_max(num_classes - 1) * valid,
                       num_classes).permute(0, 3, 1, 2).float()
    onehot = onehot * valid[:, None]
    kernel = (labels.shape[-2] // size[0], labels.shape[-1] // size[1])
    frac = F.avg_pool2d(onehot, kernel)
    ratio, label = frac.max(dim=1)
    label[ratio < min_ratio] = ignore_index
    return label


def feature_distance(feat: torch.Tensor,
                     feat_imnet: torch.Tensor,
                     mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    r"""ImageNet feature distance (DAFormer Sec. 3.4):
    :math:`\frac{1}{|M|}\sum_{i\in M}\|F_\theta(x)_i - F_{ImNet}(x)_i\|_2`
    over the cells ``mask`` (thing classes), all cells if None."""
    dist = (feat - feat_imnet.detach()).norm(dim=1)
    if mask is not None:
        dist = dist[mask]
    return dist.mean() if dist.numel() else feat.sum() * 0.


def stack_labels(data_samples) -> torch.Tensor:
    """``(B, H, W)`` long ground truth of packed segmentation samples."""
    return torch.stack([s.gt_sem_seg.data[0] for s in data_samples]).long()


def labeled_samples(data_samples,
                    labels: torch.Tensor,
                    weights: Optional[torch.Tensor] = None) -> list:
    """Copies of ``data_samples`` (metainfo) carrying new labels (and a
    per-pixel ``seg_weight``)."""
    out = []
    for i, sample in enumerate(data_samples):
        new = sample.__class__(metainfo=sample.metainfo)
        new.gt_sem_seg = PixelData(data=labels[i][None])
        if weights is not None:
            new.seg_weight = PixelData(data=weights[i][None])
        out.append(new)
    return out


def set_pad_shape(batch: dict) -> None:
    """mmseg's ``stack_batch`` records ``pad_shape=None`` for samples
    without labels (the unlabeled target); heads that upsample to
    ``pad_shape`` (Mask2Former) need the padded input size."""
    shape = tuple(batch['inputs'].shape[-2:])
    for sample in batch['data_samples']:
        if sample.metainfo.get('pad_shape') is None:
            sample.set_metainfo(dict(pad_shape=shape))


@MODELS.register_module()
class DACS(BaseModel):
    """Self-training UDA segmentor around any mmseg segmentor (DACS with
    DAFormer's recipe; paper App. J uses it for GTA→Cityscapes).

    Each training iteration (``loss``; one backward, so DDP works):

    1. EMA teacher update, momentum ``min(1 - 1/(t+1), ema_momentum)``
       (:func:`update_ema_`) at the runner's iteration ``t``
       (:func:`current_iter`); the teacher stays in train mode (BN uses the
       target batch statistics) with dropout and drop-path off
       (:func:`disable_drop_`), as DAFormer.
    2. Source loss of the student (``src.*``), optionally + ImageNet
       feature distance on thing classes (``src.loss_imnet_feat_dist``) on
       the same backbone features (one student pass, as DAFormer).
    3. Teacher pseudo-labels on the target, weighted by the fraction of
       pixels with confidence ``>= pseudo_threshold``.
    4. ClassMix: for each image, half the classes of the source BATCH are
       chosen and its source pixels of them pasted onto its target image;
       colour jitter and Gaussian blur, each applied or not to the whole
       batch (DAFormer's rules, :func:`class_mix_masks`,
       :func:`strong_transform`); loss of the student on the mixed images
       with the mixed labels and weights (``mix.*``).

    Pixel weights reach heads that declare ``supports_seg_weight = True``
    and read ``seg_weight`` from the data samples (:class:`DLV2Head`). For
    other heads (e.g. Mask2Former, whose set loss takes no pixel weights)
    pixels of weight 0 become ``ignore_index`` and the loss is scaled by the
    mean weight of the rest. Mask-classification heads (declared by a
    ``mask_classification`` attribute, or mmseg's MaskFormer /
    Mask2Former heads, :func:`is_mask_classification`) give scores that
    are normalised over classes instead of a softmax.

    Evaluation and ``tools/test.py`` use the student. Checkpoints hold the
    student (``model.*``) and the teacher (``ema_model.*``); the iteration
    is the runner's (mmengine's message hub, restored by ``--resume``), so
    ``--resume`` continues exactly. The ``local_iter`` counter of older
    checkpoints is ignored on loading. ``load_from`` of a plain mmseg
    checkpoint (``backbone.*``, ``decode_head.*``) loads into the student
    (and the teacher copies it at iteration 0).

    Args:
        model (dict): the mmseg segmentor config (``_scope_='mmseg'``).
        ema_momentum (float): EMA momentum cap (DAFormer ``alpha``;
            deprecated name here: ``alpha``). Defaults to 0.999.
        pseudo_threshold (float): Defaults to 0.968.
        pseudo_weight_ignore_top (int): pseudo-label rows zeroed at the top
            (DAFormer plcrop: 15 for Cityscapes targets). Defaults to 0.
        pseudo_weight_ignore_bottom (int): Defaults to 0 (plcrop: 120).
        color_jitter_strength (float): Defaults to 0.2.
        color_jitter_probability (float): Defaults to 0.2.
        blur (bool): Defaults to True.
        imnet_feature_dist_lambda (float): weight of the ImageNet feature
            distance; 0 disables it (no frozen copy is built).
            Defaults to 0.
        imnet_feature_dist_classes (Sequence[int], optional): thing classes
            (DAFormer: 6, 7, 11..18); None: every cell. Defaults to None.
        imnet_feature_dist_scale_min_ratio (float): Defaults to 0.75.
        data_preprocessor (dict, optional): defaults to
            ``UDADataPreprocessor`` around the segmentor's own preprocessor.
        init_cfg (dict, optional): Defaults to None.

    Example:
        >>> model = dict(
        ...     type='mmvlpuda.DACS', ema_momentum=0.999,
        ...     model=dict(_scope_='mmseg', type='EncoderDecoder', ...))
    """

    @renamed_args(alpha='ema_momentum')
    def __init__(self,
                 model: dict,
                 ema_momentum: float = 0.999,
                 pseudo_threshold: float = 0.968,
                 pseudo_weight_ignore_top: int = 0,
                 pseudo_weight_ignore_bottom: int = 0,
                 color_jitter_strength: float = 0.2,
                 color_jitter_probability: float = 0.2,
                 blur: bool = True,
                 imnet_feature_dist_lambda: float = 0.,
                 imnet_feature_dist_classes: Optional[Sequence[int]] = None,
                 imnet_feature_dist_scale_min_ratio: float = 0.75,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='mmvlpuda.UDADataPreprocessor',
                preprocessor=self._scoped(model, 'data_preprocessor'))
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.model = MODELS.build(model)
        self.ema_model = self._frozen(MODELS.build(copy.deepcopy(model)))
        self.imnet_model = None
        if imnet_feature_dist_lambda > 0:
            self.imnet_model = self._frozen(MODELS.build(copy.deepcopy(model)))
        self.ema_momentum = ema_momentum
        head = self.model.decode_head
        self.mask_classification = is_mask_classification(head)
        self.pixel_weights = bool(getattr(head, 'supports_seg_weight', False))
        self.pseudo_threshold = pseudo_threshold
        self.ignore_top = pseudo_weight_ignore_top
        self.ignore_bottom = pseudo_weight_ignore_bottom
        self.color_jitter_strength = color_jitter_strength
        self.color_jitter_probability = color_jitter_probability
        self.blur = blur
        self.fd_lambda = imnet_feature_dist_lambda
        self.fd_classes = imnet_feature_dist_classes
        self.fd_min_ratio = imnet_feature_dist_scale_min_ratio

    # construction helpers --------------------------------------------------
    @staticmethod
    def _scoped(model: dict, key: str) -> dict:
        cfg = copy.deepcopy(model[key])
        if '_scope_' in model and '.' not in cfg['type']:
            cfg.setdefault('_scope_', model['_scope_'])
        return cfg

    @staticmethod
    def _frozen(module: nn.Module) -> nn.Module:
        for p in module.parameters():
            p.requires_grad_(False)
        return module

    # delegation: evaluation uses the student ---------------------------------
    @property
    def num_classes(self) -> int:
        return self.model.decode_head.num_classes

    @property
    def ignore_index(self) -> int:
        return getattr(self.model.decode_head, 'ignore_index', 255)

    def forward(self,
                inputs=None,
                data_samples=None,
                mode: str = 'tensor',
                source: Optional[dict] = None,
                target: Optional[dict] = None):
        if mode == 'loss':
            if source is None or target is None:
                raise ValueError(f'{type(self).__name__} trains on paired '
                                 'batches dict(source=..., target=...): use '
                                 'UDASegDataset as the train dataset')
            set_pad_shape(target)
            return self.loss(source, target)
        return self.model(inputs, data_samples, mode=mode)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A plain mmseg checkpoint (``backbone.*``, ``decode_head.*``, e.g.
        ``load_from`` a Cityscapes model) initialises the student and its
        copies (teacher, ImageNet model, frozen head). The iteration counter
        of older checkpoints (``local_iter``) is dropped: the iteration is
        the runner's (:func:`current_iter`)."""
        state_dict.pop(prefix + 'local_iter', None)
        keys = [k for k in state_dict if k.startswith(prefix)]
        if keys and not any(k.startswith(prefix + 'model.') for k in keys):
            plain = {k[len(prefix):]: state_dict.pop(k) for k in keys}
            for src, dst in self.plain_checkpoint_targets():
                for k, v in plain.items():
                    if k.startswith(src):
                        state_dict[prefix + dst + k[len(src):]] = v
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def plain_checkpoint_targets(self) -> List[tuple]:
        """``(segmentor key prefix, own prefix)`` pairs a plain mmseg
        checkpoint is copied to."""
        targets = [('', 'model.'), ('', 'ema_model.')]
        if self.imnet_model is not None:
            targets.append(('', 'imnet_model.'))
        return targets

    # training ------------------------------------------------------------
    def _step_teacher(self) -> int:
        """EMA update at the runner's iteration (parameters; iteration 0
        copies the student). Returns the iteration index."""
        it = current_iter()
        update_ema_(self.ema_model, self.model, it, self.ema_momentum)
        if it == 0 and self.imnet_model is not None:
            self.imnet_model.load_state_dict(self.model.state_dict())
        return it

    def class_probabilities(self, seg_logits: torch.Tensor) -> torch.Tensor:
        """Per-pixel class distributions of ``encode_decode`` outputs:
        softmax of logits, or the mask-classification scores (non-negative,
        not summing to 1) normalised over classes."""
        return class_probabilities(seg_logits, self.mask_classification)

    @torch.no_grad()
    def teacher_probabilities(self, inputs: torch.Tensor,
                              data_samples) -> torch.Tensor:
        """EMA teacher class distributions (train mode, no dropout)."""
        disable_drop_(self.ema_model)
        metas = [s.metainfo for s in data_samples]
        return self.class_probabilities(
            self.ema_model.encode_decode(inputs, metas))

    def source_loss(self, inputs: torch.Tensor, data_samples):
        """Student loss on the labelled source and the features it used:
        mmseg ``EncoderDecoder.loss`` (decode + auxiliary heads) with the
        features returned, as DAFormer ``forward_train(...,
        return_feat=True)`` (``mmseg/models/uda/dacs.py:234-236``), so the
        feature distance needs no second backbone pass.

        Returns:
            tuple[dict, list[Tensor]]: losses and ``extract_feat`` output.
        """
        seg = self.model
        feats = seg.extract_feat(inputs)
        losses = seg._decode_head_forward_train(feats, data_samples)
        if seg.with_auxiliary_head:
            losses.update(
                seg._auxiliary_head_forward_train(feats, data_samples))
        return losses, feats

    def _imnet_feature_loss(self, inputs: torch.Tensor, data_samples,
                            feat: torch.Tensor) -> torch.Tensor:
        """λ_FD × ImageNet feature distance (DAFormer ``calc_feat_dist``).

        Args:
            inputs (Tensor): the source images (for the ImageNet model).
            data_samples (list): source samples (thing-class mask).
            feat (Tensor): the student's last source feature, from
                :meth:`source_loss`.
        """
        with torch.no_grad():
            self.imnet_model.eval()
            feat_imnet = self.imnet_model.extract_feat(inputs)[-1]
        mask = None
        if self.fd_classes is not None:
            labels = downscale_label_ratio(
                stack_labels(data_samples), feat.shape[-2:], self.fd_min_ratio,
                self.num_classes, self.ignore_index)
            mask = torch.isin(
                labels,
                torch.as_tensor(list(self.fd_classes), device=labels.device))
        return self.fd_lambda * feature_distance(feat, feat_imnet, mask)

    def mix(self, source: dict, target: dict, weight: torch.Tensor, *labels:
            torch.Tensor):
        """ClassMix + colour jitter + blur (DACS, DAFormer's batch-wide
        class pool and apply decisions): source pixels of half the source
        batch's classes pasted onto the target. Returns the mixed images,
        the mixed weights (1 on source pixels) and each of ``labels`` mixed
        with the source ground truth by the same masks."""
        src_labels = stack_labels(source['data_samples'])
        masks = class_mix_masks(src_labels, ignore_index=self.ignore_index)
        pre = self.data_preprocessor.preprocessor
        images = strong_transform(
            source['inputs'],
            target['inputs'],
            masks,
            mean=pre.mean,
            std=pre.std,
            color_jitter_strength=self.color_jitter_strength,
            color_jitter_probability=self.color_jitter_probability,
            blur=self.blur)
        masks = masks[:, 0]
        mixed_weight = one_mix(masks, torch.ones_like(weight), weight)
        mixed = [one_mix(masks, src_labels, lbl).long() for lbl in labels]
        return (images, mixed_weight, *mixed)

    def ignore_unweighted(self, labels: torch.Tensor, weight: torch.Tensor):
        """For heads without pixel weights: pixels of weight 0 become
        ``ignore_index``; returns the labels and the mean weight of the
        rest (the factor the loss is scaled by)."""
        labels = labels.masked_fill(weight <= 0, self.ignore_index)
        kept = weight[weight > 0]
        return labels, kept.mean() if kept.numel() else weight.sum() * 0.

    def weighted_loss(self, inputs: torch.Tensor, data_samples,
                      labels: torch.Tensor,
                      weight: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Student loss on pseudo-labelled images with pixel weights."""
        if self.pixel_weights:
            return self.model.loss(
                inputs, labeled_samples(data_samples, labels, weight))
        labels, scale = self.ignore_unweighted(labels, weight)
        losses = self.model.loss(inputs, labeled_samples(data_samples, labels))
        return {k: v * scale if 'loss' in k else v for k, v in losses.items()}

    def loss(self, source: dict, target: dict) -> Dict[str, torch.Tensor]:
        self._step_teacher()
        src_losses, feats = self.source_loss(source['inputs'],
                                             source['data_samples'])
        losses = {f'src.{k}': v for k, v in src_losses.items()}
        if self.imnet_model is not None:
            losses['src.loss_imnet_feat_dist'] = self._imnet_feature_loss(
                source['inputs'], source['data_samples'], feats[-1])
        probs = self.teacher_probabilities(target['inputs'],
                                           target['data_samples'])
        labels, weight = pseudo_label_and_weight(probs, self.pseudo_threshold,
                                                 self.ignore_top,
                                                 self.ignore_bottom)
        images, mixed_weight, mixed_labels = self.mix(source, target, weight,
                                                      labels)
        mix_losses = self.weighted_loss(images, target['data_samples'],
                                        mixed_labels, mixed_weight)
        losses.update({f'mix.{k}': v for k, v in mix_losses.items()})
        losses['pseudo_weight'] = weight.mean().detach()
        return losses

    # BaseSegmentor-like API (delegates to the student) --------------------
    def extract_feat(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        return self.model.extract_feat(inputs)

    def encode_decode(self, inputs: torch.Tensor,
                      batch_img_metas: List[dict]) -> torch.Tensor:
        return self.model.encode_decode(inputs, batch_img_metas)

    def predict(self, inputs: torch.Tensor, data_samples=None):
        return self.model.predict(inputs, data_samples)
