import copy

import open_clip
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel, BaseModule
from mmpretrain.structures import label_to_onehot

from mmvlpuda.models.utils import create_open_clip, resolve_arch
from mmvlpuda.models.utils.iteration import current_iter
from mmvlpuda.registry import MODELS


@MODELS.register_module()
class BinaryPromptHead(BaseModule):
    """Multi-label CLIP teacher: per class, the log-odds of the prompts
    'a photo with a {}' vs 'a photo without a {}' (frozen text embeddings)."""

    def __init__(self,
                 classnames,
                 arch='RN50',
                 pretrained=None,
                 templates=('a photo with a {}.', 'a photo without a {}.')):
        super().__init__()
        clip = create_open_clip(arch, pretrained).eval()
        tokenize = open_clip.get_tokenizer(resolve_arch(arch))
        with torch.no_grad():
            pos, neg = (
                F.normalize(
                    clip.encode_text(
                        tokenize([t.format(c) for c in classnames])).float(),
                    dim=-1) for t in templates)
        self.register_buffer('pos', pos, persistent=False)
        self.register_buffer('neg', neg, persistent=False)
        self.register_buffer(
            'scale', clip.logit_scale.detach().exp(), persistent=False)
        self.num_classes = len(classnames)

    def forward(self, feats):
        feats = F.normalize(feats, dim=-1)
        return self.scale * feats @ (self.pos - self.neg).t()


def binary(logits):
    """(N, C) multi-label logits -> (N*C, 2) logits of [present, absent]."""
    return torch.stack([logits, torch.zeros_like(logits)], -1).flatten(0, 1)


@MODELS.register_module()
class MultiLabelCMKD(BaseModel):
    """CMKD for multi-label UDA: every (image, class) pair is a two-class
    problem, so mmvlpuda's CMKDLoss applies unchanged to ``binary`` logits;
    the source term is BCE on the multi-hot labels."""

    def __init__(self,
                 backbone,
                 task_head,
                 teacher_head,
                 cmkd_loss=dict(type='CMKDLoss', variant='paper'),
                 data_preprocessor=dict(type='UDADataPreprocessor')):
        super().__init__(data_preprocessor=data_preprocessor)
        self.backbone = MODELS.build(backbone)
        teacher_head = copy.deepcopy(teacher_head)
        for key in ('arch', 'pretrained'):  # same CLIP as the backbone
            teacher_head.setdefault(key, backbone.get(key))
        self.teacher_head = MODELS.build(teacher_head)
        self.task_head = MODELS.build(
            dict(
                task_head,
                in_channels=self.backbone.embed_dims,
                num_classes=self.teacher_head.num_classes))
        self.cmkd_loss = MODELS.build(cmkd_loss)

    def forward(self,
                inputs=None,
                data_samples=None,
                mode='tensor',
                source=None,
                target=None):
        if mode == 'loss':
            return self.loss(source, target)
        logits = self.task_head(self.backbone(inputs))
        if mode == 'tensor':
            return logits
        for ds, score in zip(data_samples, logits.float().sigmoid()):
            ds.set_pred_score(score)
        return data_samples

    def loss(self, source, target):
        n_src = source['inputs'].shape[0]
        feats = self.backbone(torch.cat([source['inputs'], target['inputs']]))
        feats_s, feats_t = feats[:n_src], feats[n_src:]
        y_s = torch.stack([
            label_to_onehot(ds.gt_label, self.task_head.num_classes)
            for ds in source['data_samples']
        ]).to(feats.device)
        logits_s = self.task_head(feats_s)
        losses = self.cmkd_loss(
            binary(self.task_head(feats_t)),
            binary(self.teacher_head(feats_t)),
            binary(self.teacher_head(feats_s)),
            (1 - y_s).long().flatten(),  # class 0 of `binary` = present
            cur_iter=current_iter())
        losses['alpha'] = losses.pop('alpha').mean()
        losses['loss_cls'] = F.binary_cross_entropy_with_logits(
            logits_s, y_s.float())
        return losses
