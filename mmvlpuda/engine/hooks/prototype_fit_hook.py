from typing import Optional

import numpy as np
import torch
from mmengine.dist import broadcast, get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmvlpuda.registry import HOOKS


@HOOKS.register_module()
class PrototypeFitHook(Hook):
    """Fit an :class:`ImageNetPrototypeHead` teacher on labeled source data
    before training (paper App. E, Co-tuning protocol).

    The source samples (at most ``max_per_class`` per class) are split 1:1
    into a fit and a validation half, stratified by class; features come from
    the pretrained backbone (eval mode, no gradient). The prototypes are
    buffers of the head, so they are checkpointed and a resumed run does not
    refit. Under DDP rank 0 fits and broadcasts.

    Args:
        head (str): attribute of the model holding the teacher head.
            Defaults to ``'text_head'``.
        max_per_class (int, optional): cap on source samples per class.
            Defaults to None (all).
        batch_size (int): feature extraction batch size. Defaults to 128.
        seed (int): seed of the subsampling and split. Defaults to 0.

    Example:
        >>> custom_hooks = [dict(type='PrototypeFitHook', max_per_class=100)]
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 head: str = 'text_head',
                 max_per_class: Optional[int] = None,
                 batch_size: int = 128,
                 seed: int = 0):
        self.head = head
        self.max_per_class = max_per_class
        self.batch_size = batch_size
        self.seed = seed

    @staticmethod
    def _source_dataset(runner):
        dataset = runner.train_dataloader.dataset
        return getattr(dataset, 'source', dataset)

    def _split(self, labels: np.ndarray):
        rng = np.random.default_rng(self.seed)
        fit, val = [], []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            if self.max_per_class is not None:
                idx = idx[:self.max_per_class]
            half = (len(idx) + 1) // 2
            fit.extend(idx[:half])
            val.extend(idx[half:])
        return np.array(fit), np.array(val)

    @torch.no_grad()
    def _features(self, model, dataset, indices):
        feats, labels = [], []
        for start in range(0, len(indices), self.batch_size):
            batch = [
                dataset[int(i)] for i in indices[start:start + self.batch_size]
            ]
            data = model.data_preprocessor(
                dict(
                    inputs=[b['inputs'] for b in batch],
                    data_samples=[b['data_samples'] for b in batch]), False)
            feats.append(model.backbone(data['inputs']).float())
            labels.append(
                torch.cat([ds.gt_label for ds in data['data_samples']]))
        return torch.cat(feats), torch.cat(labels).to(feats[0].device)

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head = getattr(model, self.head)
        if bool(head.fitted):
            return  # resumed or loaded: prototypes are in the checkpoint
        if get_rank() == 0:
            dataset = self._source_dataset(runner)
            labels = np.asarray(dataset.get_gt_labels())
            fit, val = self._split(labels)
            was_training = model.training
            model.eval()
            acc = head.fit(*self._features(model, dataset, fit),
                           *self._features(model, dataset, val))
            model.train(was_training)
            print_log(
                f'PrototypeFitHook: fitted {head.num_classes} prototypes on '
                f'{len(fit)} source images, T={float(head.temperature):g}, '
                f'teacher accuracy on {len(val)} held-out source images: '
                f'{acc * 100:.2f}%',
                logger='current')
        for name in ('prototypes', 'temperature', 'fitted'):
            broadcast(getattr(head, name), 0)
