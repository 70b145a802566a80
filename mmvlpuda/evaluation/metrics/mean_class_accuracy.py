from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmvlpuda.registry import METRICS


def _to_label(value) -> int:
    if isinstance(value, torch.Tensor):
        value = value.reshape(-1)
        if value.numel() != 1:
            raise ValueError('MeanClassAccuracy supports single-label '
                             f'samples only, got gt_label {value.tolist()}')
        return int(value.item())
    return int(np.asarray(value).reshape(-1)[0])


@METRICS.register_module()
class MeanClassAccuracy(BaseMetric):
    """Mean per-class accuracy (the VisDA-2017 "Avg.") and overall top-1.

    The per-class accuracy of class ``c`` is the recall
    ``#(pred == c and gt == c) / #(gt == c)``; ``mean`` averages it over the
    classes that occur in the ground truth (as sklearn's
    ``balanced_accuracy_score``, which the official code uses). All values
    are percentages. A per-class table (class names from the dataset meta)
    is written to the current mmengine logger at every evaluation.

    Returned keys (with the default prefix): ``accuracy/mean`` and
    ``accuracy/top1``; with ``per_class_keys=True`` also
    ``accuracy/class/<name>`` per class present in the ground truth.

    Args:
        per_class_keys (bool): also return one scalar per class.
            Defaults to False.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to 'accuracy'.

    Example:
        >>> val_evaluator = dict(type='MeanClassAccuracy')
    """
    default_prefix: Optional[str] = 'accuracy'

    def __init__(self,
                 per_class_keys: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.per_class_keys = per_class_keys

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'pred_score' in sample and sample['pred_score'] is not None:
                score = sample['pred_score']
                pred = int(torch.as_tensor(score).argmax())
                num_scores = int(torch.as_tensor(score).numel())
            elif 'pred_label' in sample:
                pred, num_scores = _to_label(sample['pred_label']), 0
            else:
                raise KeyError('MeanClassAccuracy: a data sample has neither '
                               '`pred_score` nor `pred_label`')
            if 'gt_label' not in sample:
                raise KeyError('MeanClassAccuracy: a data sample has no '
                               '`gt_label` (evaluate on a labeled dataset)')
            self.results.append(
                (pred, _to_label(sample['gt_label']), num_scores))

    def _class_names(self, results: List[tuple]) -> List[str]:
        classes = (self.dataset_meta or {}).get('classes')
        if classes:
            return [str(c) for c in classes]
        num = max(max(max(p, g) + 1, s) for p, g, s in results)
        return [f'class {i}' for i in range(num)]

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        if not results:
            raise ValueError('MeanClassAccuracy: no samples were evaluated')
        names = self._class_names(results)
        preds = np.array([r[0] for r in results], dtype=np.int64)
        gts = np.array([r[1] for r in results], dtype=np.int64)
        if gts.min() < 0 or gts.max() >= len(names):
            bad = int(gts[(gts < 0) | (gts >= len(names))][0])
            raise ValueError(f'MeanClassAccuracy: gt_label {bad} is outside '
                             f'0..{len(names) - 1} (dataset meta `classes` '
                             f'has {len(names)} names)')
        totals = np.bincount(gts, minlength=len(names))
        hits = np.bincount(gts[preds == gts], minlength=len(names))
        present = totals > 0
        per_class = np.full(len(names), np.nan)
        per_class[present] = 100. * hits[present] / totals[present]
        metrics = dict(
            mean=float(per_class[present].mean()),
            top1=float(100. * hits.sum() / totals.sum()))
        print_log(
            self._table(names, per_class, totals, metrics), logger='current')
        if self.per_class_keys:
            for name, acc, n in zip(names, per_class, totals):
                if n:
                    metrics[f'class/{name}'] = float(acc)
        return metrics

    @staticmethod
    def _table(names, per_class, totals, metrics) -> str:
        width = max(
            len('class'), len('mean (per class)'), *(len(n) for n in names))
        sep = f'+-{"-" * width}-+---------+---------+'
        rows = [
            'per-class accuracy:', sep,
            f'| {"class":<{width}} |  acc(%) | samples |', sep
        ]
        for name, acc, n in zip(names, per_class, totals):
            acc_txt = f'{acc:7.2f}' if n else '    n/a'
            rows.append(f'| {name:<{width}} | {acc_txt} | {n:7d} |')
        rows.append(sep)
        rows.append(f'| {"mean (per class)":<{width}} | '
                    f'{metrics["mean"]:7.2f} | {int(totals.sum()):7d} |')
        rows.append(f'| {"overall top-1":<{width}} | '
                    f'{metrics["top1"]:7.2f} | {int(totals.sum()):7d} |')
        rows.append(sep)
        return '\n'.join(rows)
