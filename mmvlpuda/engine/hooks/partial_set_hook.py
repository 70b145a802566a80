"""Label-set estimation for partial-set DA (paper App. K, Eq. (9))."""
import logging
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import all_gather_object, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from mmvlpuda.registry import HOOKS

PARTIAL_SET_KEY = 'partial_set'


def count_predictions(preds: Sequence[int], num_classes: int) -> List[int]:
    """Number of target predictions per class, ``n_c = |{i: ŷ_i = c}|``."""
    if len(preds) == 0:
        return [0] * num_classes
    counts = torch.bincount(
        torch.as_tensor(list(preds), dtype=torch.long), minlength=num_classes)
    return counts[:num_classes].tolist()


def select_label_set(counts: Sequence[int], threshold: int) -> List[int]:
    r"""Kept classes of partial-set DA (paper Eq. (9), official
    ``obtain_label``): :math:`\mathcal{C}' = \{c : n_c \ge T_{pda}\}`."""
    return [c for c, n in enumerate(counts) if n >= threshold]


@HOOKS.register_module()
class PartialSetHook(Hook):
    """Computes ``model.label_set`` for partial-set DA (paper App. K).

    * Until the first evaluation every class is kept (``label_set = None``).
    * After each validation epoch the hook counts the arg-max predictions of
      the validation outputs (the target evaluation data, i.e. the student
      task head with ``predict_head='task'``; argmax over ALL classes) and
      keeps the classes with ``count >= threshold``. This equals the
      official ``obtain_label``, which runs once per epoch right before
      training it, on the same model. If no class reaches the threshold the
      previous label set is kept (with a warning).
    * The label set is model state (``CMKDClassifier.class_mask``, a
      buffer saved with the weights); the hook keeps only its bookkeeping
      (counts, iteration of the update) in ``checkpoint['partial_set']``.
      Checkpoints of older versions, whose label set lives under that key,
      still load. mmengine saves the interval checkpoint
      *before* the validation of the same iteration, so a resumed run whose
      checkpoint predates a due validation recomputes the label set from
      the restored weights (one prediction pass over the val dataloader),
      exactly as the uninterrupted run did.

    The loss weights of partial-set mode (``L_cls × 0.5``, transfer
    ``× 0.1``) are part of the model: ``model.partial_set=dict(cls_weight,
    transfer_weight)`` of :class:`CMKDClassifier`, which this hook requires.
    Works with any number of classes (taken from the prediction scores or
    ``model.task_head.num_classes``). The threshold is an absolute count,
    so it depends on the size of the evaluation set (14 for Office-Home).

    Args:
        threshold (int): T_pda; classes with at least this many predictions
            are kept. Defaults to 14.
    """

    priority = 'NORMAL'  # before LoggerHook / CheckpointHook(save_best)

    def __init__(self, threshold: int = 14):
        if threshold < 1:
            raise ValueError('PartialSetHook threshold must be >= 1, got '
                             f'{threshold} (key `threshold`)')
        self.threshold = int(threshold)
        self.counts: Optional[List[int]] = None
        self.num_classes: Optional[int] = None
        self.updated_at: Optional[Dict[str, int]] = None
        self._preds: Dict[int, int] = {}
        self._unindexed: List[int] = []

    # model access ---------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    # training -------------------------------------------------------------
    def before_train(self, runner) -> None:
        model = self._model(runner)
        if getattr(model, 'partial_set', None) is None:
            raise ValueError('PartialSetHook needs a partial-set model: set '
                             '`model.partial_set=dict(cls_weight=0.5, '
                             'transfer_weight=0.1)`')
        if getattr(model, 'predict_head', 'task') != 'task':
            print_log(
                'PartialSetHook: validation predicts with the '
                f"'{model.predict_head}' head; the label set follows "
                'those predictions (the paper uses the task head)',
                logger='current',
                level=logging.WARNING)
        if self._validation_due_since_update(runner):
            print_log(
                'PartialSetHook: the resumed checkpoint was saved '
                'before the validation of its iteration; recomputing '
                'the label set',
                logger='current')
            self._predict_val(runner)
            self._update(runner)
        if model.label_set is not None:
            print_log(
                f'PartialSetHook: starting with the loaded label set '
                f'({len(model.label_set)} classes): {model.label_set}',
                logger='current')

    @staticmethod
    def _progress(runner) -> Optional[tuple]:
        """(unit, completed count, val_begin, val_interval, max) of the
        train loop, for the loops whose validation schedule is known."""
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            return ('iter', runner.iter, loop.val_begin, loop.val_interval,
                    loop.max_iters)
        if isinstance(loop, EpochBasedTrainLoop):
            return ('epoch', runner.epoch, loop.val_begin, loop.val_interval,
                    loop.max_epochs)
        return None

    def _validation_due_since_update(self, runner) -> bool:
        """True when a validation ran at the resumed point (after the
        checkpoint was written) but its label-set update is not in it."""
        progress = self._progress(runner)
        if progress is None or runner.val_loop is None:
            return False
        unit, done, val_begin, interval, max_count = progress
        if done == 0 or done < val_begin:
            return False
        if done % interval != 0 and done != max_count:
            return False
        return self.updated_at is None or self.updated_at.get(unit, -1) < done

    @torch.no_grad()
    def _predict_val(self, runner) -> None:
        self._reset()
        model = runner.model
        was_training = model.training
        model.eval()
        for data_batch in runner.val_dataloader:
            self._collect(model.val_step(data_batch))
        model.train(was_training)

    # validation -----------------------------------------------------------
    def _reset(self) -> None:
        self._preds = {}
        self._unindexed = []

    def before_val_epoch(self, runner) -> None:
        self._reset()

    def _collect(self, outputs) -> None:
        for sample in outputs or ():
            label = int(sample.pred_label.reshape(-1)[0])
            if self.num_classes is None and 'pred_score' in sample:
                self.num_classes = int(sample.pred_score.numel())
            idx = sample.metainfo.get('sample_idx') if hasattr(
                sample, 'metainfo') else None
            if idx is None:
                self._unindexed.append(label)
            else:
                # keyed by sample index: the padding a distributed sampler
                # adds is counted once
                self._preds[int(idx)] = label

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs=None) -> None:
        self._collect(outputs)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._update(runner)
        label_set = self._model(runner).label_set
        if label_set is not None:
            runner.message_hub.update_scalar('val/pda_num_classes',
                                             len(label_set))

    def _gather_predictions(self) -> List[int]:
        indexed, unindexed = self._preds, self._unindexed
        if get_world_size() > 1:
            merged: Dict[int, int] = {}
            flat: List[int] = []
            parts = all_gather_object((indexed, unindexed))
            for part_indexed, part_unindexed in parts:
                merged.update(part_indexed)
                flat.extend(part_unindexed)
            indexed, unindexed = merged, flat
        return list(indexed.values()) + list(unindexed)

    def _num_classes(self, runner) -> int:
        if self.num_classes is None:
            head = getattr(self._model(runner), 'task_head', None)
            if head is None or not hasattr(head, 'num_classes'):
                raise ValueError('PartialSetHook cannot tell the number of '
                                 'classes (no pred_score, no '
                                 'model.task_head.num_classes)')
            self.num_classes = int(head.num_classes)
        return self.num_classes

    def _update(self, runner) -> None:
        preds = self._gather_predictions()
        self._reset()
        if not preds:
            return
        counts = count_predictions(preds, self._num_classes(runner))
        label_set = select_label_set(counts, self.threshold)
        self.counts = counts
        self.updated_at = dict(iter=runner.iter, epoch=runner.epoch)
        model = self._model(runner)
        if not label_set:
            print_log(
                f'PartialSetHook: no class has >= {self.threshold} '
                'predictions; keeping the previous label set',
                logger='current',
                level=logging.WARNING)
        else:
            model.label_set = label_set
        kept = 'all' if model.label_set is None else len(model.label_set)
        print_log(
            f'PartialSetHook: keeping {kept}/{len(counts)} classes '
            f'(>= {self.threshold} of {len(preds)} target predictions)'
            f': {model.label_set}',
            logger='current')

    # checkpoints ----------------------------------------------------------
    def state_dict(self) -> dict:
        return dict(
            counts=self.counts,
            num_classes=self.num_classes,
            threshold=self.threshold,
            updated_at=self.updated_at)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[PARTIAL_SET_KEY] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Restore the bookkeeping; a checkpoint of an older version keeps
        its label set here, which becomes the model's ``class_mask`` (runs
        before mmengine loads ``state_dict`` into the model)."""
        state = checkpoint.get(PARTIAL_SET_KEY) or {}
        self.counts = state.get('counts')
        self.num_classes = state.get('num_classes')
        self.updated_at = state.get('updated_at')
        weights = checkpoint.get('state_dict', {})
        if 'class_mask' in weights or 'label_set' not in state:
            return
        kept = state['label_set']
        mask = torch.zeros_like(self._model(runner).class_mask)
        mask[slice(None) if kept is None else [int(c) for c in kept]] = True
        weights['class_mask'] = mask
        print_log(
            'PartialSetHook: label set read from the old '
            "`checkpoint['partial_set']` layout",
            logger='current')
