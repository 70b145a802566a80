import copy
import inspect
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample

from mmvlpuda.registry import MODELS
from ..utils.iteration import current_iter

PREDICT_HEADS = ('task', 'text')
# terms of L_transfer (CMKD + FixMatch), scaled together in partial-set mode
TRANSFER_PREFIXES = ('loss_task', 'loss_distill', 'loss_reg_', 'loss_fm_')
PARTIAL_SET_KEYS = ('cls_weight', 'transfer_weight')


@MODELS.register_module()
class CMKDClassifier(BaseModel):
    """CLIP student + frozen text teacher trained with CMKD (paper Fig. 2a).

    The student is ``backbone`` + ``task_head``; the teacher view is the
    frozen text embeddings (``text_head``) applied to the *same* trainable
    image features (official code). Training takes a paired batch
    ``forward(source=..., target=..., mode='loss')`` and returns
    ``loss_cls`` (label-smoothed CE on source) plus the :class:`CMKDLoss`
    terms and the mean confidence coefficient ``alpha`` (logged). With a
    ``fixmatch_loss`` and a ``target_strong`` branch it adds
    ``loss_fm_task``/``loss_fm_text`` and the confident fractions
    ``fm_mask_task``/``fm_mask_text`` (logged).

    Partial-set DA: ``label_set`` (list of kept class indices, None = all)
    restricts the CMKD target terms and the FixMatch pseudo-labels. It is
    model state, the boolean buffer ``class_mask`` (saved and restored with
    the weights); :class:`PartialSetHook` only computes it.

    Args:
        backbone (dict): image encoder, e.g. :class:`CLIPVisualBackbone`.
        task_head (dict): trainable head; ``in_channels`` defaults to the
            backbone's ``embed_dims`` and ``num_classes`` to the number of
            text-head class names.
        text_head (dict, optional): the teacher head, normally
            :class:`TextZeroShotHead` (``arch``, ``pretrained`` and
            ``quick_gelu`` default to the backbone's); any head mapping
            features to class logits works (e.g. an ImageNet-prototype
            teacher). Required for CMKD and for zero-shot prediction.
        cmkd_loss (dict, optional): transfer loss; None trains source-only.
            Defaults to ``dict(type='CMKDLoss')``.
        fixmatch_loss (dict, optional): e.g. ``dict(type='FixMatchLoss')``
            (paper App. B). Needs a ``text_head`` and a strong target view
            in the batch (``UDADataset(target_strong=...)``); pseudo-labels
            come from both heads on the weak view ``target``. Defaults to
            None (a ``target_strong`` branch is then ignored).
        partial_set (dict, optional): partial-set DA loss weights (paper
            App. K), ``dict(cls_weight=0.5, transfer_weight=0.1)``:
            ``loss_cls`` is multiplied by ``cls_weight`` and every transfer
            term (CMKD and FixMatch) by ``transfer_weight``. The kept classes
            ``label_set`` are set by :class:`PartialSetHook`. Defaults to
            None (not partial-set).
        label_smoothing (float): of the source CE. Defaults to 0.1.
        predict_head (str): ``'task'`` (student, default) or ``'text'``
            (zero-shot CLIP) for ``predict``.
        data_preprocessor (dict, optional): defaults to
            :class:`UDADataPreprocessor` with CLIP mean/std.
        init_cfg (dict, optional): Defaults to None.

    Example:
        >>> model = dict(
        ...     type='CMKDClassifier',
        ...     backbone=dict(type='CLIPVisualBackbone', arch='RN50',
        ...                   pretrained='openai'),
        ...     task_head=dict(type='TaskHead', num_classes=65),
        ...     text_head=dict(type='TextZeroShotHead', classnames=classes,
        ...                    templates='an image of a {}'),
        ...     cmkd_loss=dict(type='CMKDLoss', variant='upstream'))
    """

    def __init__(self,
                 backbone: dict,
                 task_head: dict,
                 text_head: Optional[dict] = None,
                 cmkd_loss: Optional[dict] = dict(type='CMKDLoss'),
                 fixmatch_loss: Optional[dict] = None,
                 partial_set: Optional[dict] = None,
                 label_smoothing: float = 0.1,
                 predict_head: str = 'task',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='UDADataPreprocessor')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if predict_head not in PREDICT_HEADS:
            raise ValueError(f'predict_head must be one of {PREDICT_HEADS}, '
                             f"got '{predict_head}' (key `predict_head`)")
        if (cmkd_loss is not None or fixmatch_loss is not None
                or predict_head == 'text') and text_head is None:
            raise ValueError('CMKD, FixMatch and zero-shot prediction need a '
                             '`text_head` (key `model.text_head`)')
        self.partial_set = self._check_partial_set(partial_set)
        self.backbone = MODELS.build(backbone)
        self.text_head = None
        if text_head is not None:
            self.text_head = MODELS.build(
                self._inherit_backbone_keys(text_head, backbone))
        task_head = copy.deepcopy(task_head)
        task_head.setdefault('in_channels', self.backbone.embed_dims)
        if self.text_head is not None:
            task_head.setdefault('num_classes', self.text_head.num_classes)
        self.task_head = MODELS.build(task_head)
        if self.text_head is not None:
            self._check_num_classes()
        self.cmkd_loss = MODELS.build(cmkd_loss) if cmkd_loss else None
        self.fixmatch_loss = MODELS.build(
            fixmatch_loss) if fixmatch_loss else None
        self.label_smoothing = label_smoothing
        self.predict_head = predict_head
        # classes kept for partial-set DA, computed by PartialSetHook
        self._label_set: Optional[List[int]] = None
        if self.partial_set is not None:
            self.register_buffer(
                'class_mask',
                torch.ones(self.task_head.num_classes, dtype=torch.bool))
            self.register_load_state_dict_post_hook(
                lambda module, keys: module._read_class_mask())

    @property
    def label_set(self) -> Optional[List[int]]:
        """Kept classes for partial-set DA (None = all); a host-side copy of
        ``class_mask``, so the training step reads nothing from the device.
        """
        return self._label_set

    @label_set.setter
    def label_set(self, label_set: Optional[Sequence[int]]) -> None:
        if self.partial_set is None:
            if label_set is None:
                return  # all classes: what a model without a label set does
            raise ValueError('label_set needs a partial-set model (key '
                             '`model.partial_set`)')
        if label_set is not None and len(label_set) == 0:
            raise ValueError('label_set must keep at least one class')
        mask = torch.zeros_like(self.class_mask)
        if label_set is None:
            mask.fill_(True)
        else:
            mask[torch.as_tensor(list(label_set), dtype=torch.long)] = True
        self.class_mask.copy_(mask)
        self._read_class_mask()

    def _read_class_mask(self) -> None:
        if self.partial_set is None:
            return
        kept = self.class_mask.nonzero().view(-1).tolist()
        self._label_set = None if len(kept) == len(self.class_mask) \
            else kept

    @staticmethod
    def _inherit_backbone_keys(head: dict, backbone: dict) -> dict:
        """Default the teacher head's pretrained model (``arch``,
        ``pretrained``, ``quick_gelu``; timm ``model_name``, ``checkpoint``)
        to the backbone's, for heads that take them."""
        head = copy.deepcopy(head)
        head_cls = MODELS.get(head['type']) if isinstance(
            head.get('type'), str) else head.get('type')
        accepted = inspect.signature(head_cls).parameters if head_cls else {}
        for key in ('arch', 'pretrained', 'quick_gelu', 'model_name',
                    'checkpoint'):
            source = backbone
            while key not in source and isinstance(
                    source.get('backbone'), dict):
                source = source['backbone']  # wrapped (e.g. PEFTBackbone)
            if key in source and key in accepted:
                head.setdefault(key, source[key])
        return head

    @staticmethod
    def _check_partial_set(partial_set: Optional[dict]) -> Optional[dict]:
        if partial_set is None:
            return None
        unknown = sorted(set(partial_set) - set(PARTIAL_SET_KEYS))
        if unknown:
            raise ValueError(f'unknown key(s) {unknown} in '
                             '`model.partial_set` (expected '
                             f'{list(PARTIAL_SET_KEYS)})')
        return dict(
            cls_weight=float(partial_set.get('cls_weight', 0.5)),
            transfer_weight=float(partial_set.get('transfer_weight', 0.1)))

    def _check_num_classes(self):
        n_task = self.task_head.num_classes
        n_text = self.text_head.num_classes
        if n_task != n_text:
            raise ValueError(
                f'task_head.num_classes={n_task} but text_head has {n_text} '
                'classnames (keys `model.task_head.num_classes`, '
                '`model.text_head.classnames`)')

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.backbone(inputs)

    def forward(self,
                inputs: Optional[torch.Tensor] = None,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor',
                source: Optional[dict] = None,
                target: Optional[dict] = None,
                target_strong: Optional[dict] = None):
        if mode == 'loss':
            if source is None or target is None:
                raise ValueError('CMKDClassifier training needs a paired '
                                 'batch dict(source=..., target=...) '
                                 '(use UDADataset)')
            return self.loss(source, target, target_strong)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._predict_logits(self.extract_feat(inputs))
        raise RuntimeError(f'Invalid mode "{mode}".')

    def loss(self,
             source: dict,
             target: dict,
             target_strong: Optional[dict] = None) -> Dict[str, torch.Tensor]:
        """Source CE + CMKD (+ FixMatch) on a paired batch (paper Eq. (14),
        App. B), with the partial-set weights of App. K when enabled:

        .. math:: L = w_{cls} L_{cls} + w_{tr} (L_{cmkd} + L_{fm})

        (``w = 1`` unless ``partial_set`` is set).

        Args:
            source (dict): labeled source branch (``inputs``,
                ``data_samples``).
            target (dict): target branch; the weak view for FixMatch.
            target_strong (dict, optional): strong view of the SAME target
                images in the same order; used when ``fixmatch_loss`` is set.
        """
        use_fm = self.fixmatch_loss is not None
        if use_fm and target_strong is None:
            raise ValueError('FixMatch needs a strong target view in the '
                             'batch (key `train_dataloader.dataset.'
                             'target_strong` of UDADataset)')
        if use_fm and target_strong['inputs'].shape[0] != \
                target['inputs'].shape[0]:
            raise ValueError('target_strong must pair every target image '
                             f"({target_strong['inputs'].shape[0]} strong "
                             f"vs {target['inputs'].shape[0]} weak)")
        labels_s = torch.cat([ds.gt_label for ds in source['data_samples']
                              ]).to(source['inputs'].device)
        branches = [source['inputs']]
        if self.cmkd_loss is not None or use_fm:
            branches.append(target['inputs'])
        if use_fm:
            branches.append(target_strong['inputs'])
        # one backbone pass over all views; the head is applied per view (its
        # BN1d sees each domain's/view's statistics separately, as in the
        # official code)
        feats = self.extract_feat(torch.cat(branches)).split(
            [b.shape[0] for b in branches])
        feats_s = feats[0]
        logits_s = self.task_head(feats_s)
        losses = dict(
            loss_cls=F.cross_entropy(
                logits_s, labels_s, label_smoothing=self.label_smoothing))
        if len(feats) > 1:
            feats_t = feats[1]
            logits_t = self.task_head(feats_t)
            text_logits_t = self.text_head(feats_t)
        if self.cmkd_loss is not None:
            cmkd = self.cmkd_loss(
                logits_t,
                text_logits_t,
                self.text_head(feats_s),
                labels_s,
                cur_iter=current_iter(),
                label_set=self.label_set)
            losses['alpha'] = cmkd.pop('alpha').mean()
            losses.update(cmkd)
        if use_fm:
            feats_ts = feats[2]
            losses.update(
                self.fixmatch_loss(
                    logits_t.detach().float().softmax(dim=1),
                    text_logits_t.detach().float().softmax(dim=1),
                    self.task_head(feats_ts),
                    self.text_head(feats_ts),
                    label_set=self.label_set))
        if self.partial_set is not None:
            losses = self._weight_partial_set(losses)
        return losses

    def _weight_partial_set(
            self, losses: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``L_cls × cls_weight`` and ``L_transfer × transfer_weight``
        (paper App. K: 0.5 and 0.1)."""
        out = {}
        for key, value in losses.items():
            if key == 'loss_cls':
                value = value * self.partial_set['cls_weight']
            elif key.startswith(TRANSFER_PREFIXES):
                value = value * self.partial_set['transfer_weight']
            out[key] = value
        return out

    def _predict_logits(self, feats: torch.Tensor) -> torch.Tensor:
        head = self.text_head if self.predict_head == 'text' \
            else self.task_head
        return head(feats)

    def predict(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[Sequence[DataSample]] = None
    ) -> List[DataSample]:
        """Classify with the task head (or the text head for zero-shot)."""
        logits = self._predict_logits(self.extract_feat(inputs))
        scores = logits.float().softmax(dim=1)
        labels = scores.argmax(dim=1, keepdim=True).detach()
        if data_samples is None:
            data_samples = [DataSample() for _ in range(scores.size(0))]
        for ds, score, label in zip(data_samples, scores, labels):
            ds.set_pred_score(score).set_pred_label(label)
        return list(data_samples)
