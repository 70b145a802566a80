"""Behaviour of ``MeanClassAccuracy`` (VisDA mean per-class accuracy)."""
import os.path as osp
import uuid

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from sklearn.metrics import accuracy_score, balanced_accuracy_score

import mmvlpuda  # noqa: F401  (registers modules, compat fixes)
from mmvlpuda.evaluation import MeanClassAccuracy
from mmvlpuda.registry import METRICS
from mmvlpuda.utils import load_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VISDA = [
    'aeroplane', 'bicycle', 'bus', 'car', 'horse', 'knife', 'motorcycle',
    'person', 'plant', 'skateboard', 'train', 'truck'
]


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmvlpuda')


@pytest.fixture
def log_file(tmp_path):
    """A fresh current mmengine logger writing to a file; returns a reader."""
    path = str(tmp_path / 'metric.log')
    logger = MMLogger.get_instance(
        f'mca-{uuid.uuid4().hex}', log_file=path, log_level='INFO')

    def read():
        for handler in logger.handlers:
            handler.flush()
        with open(path) as f:
            return f.read()

    return read


def score_samples(gts, preds, num_classes):
    """Packed-sample dicts as a classifier's ``to_dict()`` gives them."""
    out = []
    for gt, pred in zip(gts, preds):
        score = torch.full((num_classes, ), 0.1)
        score[pred] = 0.9
        out.append(dict(pred_score=score, gt_label=torch.tensor([gt])))
    return out


def evaluate(samples, classes=None, batch=7, **kwargs):
    metric = MeanClassAccuracy(**kwargs)
    metric.dataset_meta = dict(classes=classes) if classes else None
    for i in range(0, len(samples), batch):
        metric.process(None, samples[i:i + batch])
    return metric.evaluate(len(samples))


def test_matches_sklearn_balanced_accuracy_and_top1(log_file):
    rng = np.random.default_rng(0)
    gts = rng.integers(0, 12, 300)
    # biased predictor: good on frequent classes, bad on others
    preds = np.where(rng.random(300) < 0.6, gts, rng.integers(0, 3, 300))
    res = evaluate(score_samples(gts, preds, 12), classes=VISDA)
    assert set(res) == {'accuracy/mean', 'accuracy/top1'}
    assert res['accuracy/mean'] == pytest.approx(
        100 * balanced_accuracy_score(gts, preds))
    assert res['accuracy/top1'] == pytest.approx(100 *
                                                 accuracy_score(gts, preds))


def test_mean_differs_from_top1_on_imbalanced_data(log_file):
    # class 0: 8 samples, all right; class 1: 2 samples, all wrong
    gts = [0] * 8 + [1] * 2
    preds = [0] * 10
    res = evaluate(score_samples(gts, preds, 2), classes=['a', 'b'])
    assert res['accuracy/top1'] == pytest.approx(80.)
    assert res['accuracy/mean'] == pytest.approx(50.)


@pytest.mark.filterwarnings('ignore:y_pred contains classes not in y_true')
def test_classes_absent_from_ground_truth_are_excluded(log_file):
    gts = [0, 0, 2, 2]
    preds = [0, 1, 2, 2]
    res = evaluate(score_samples(gts, preds, 3), classes=['x', 'y', 'z'])
    assert res['accuracy/mean'] == pytest.approx((50. + 100.) / 2)
    assert res['accuracy/mean'] == pytest.approx(
        100 * balanced_accuracy_score(gts, preds))
    table = log_file()
    y_row = next(line for line in table.splitlines() if '| y ' in line)
    assert 'n/a' in y_row


def test_per_class_table_is_logged_with_class_names(log_file):
    gts = [0, 0, 1, 1, 1, 1, 2]
    preds = [0, 1, 1, 1, 1, 0, 2]
    evaluate(
        score_samples(gts, preds, 3), classes=['aeroplane', 'bus', 'truck'])
    log = log_file()
    assert 'per-class accuracy' in log
    rows = {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.strip('|').split('|')]
                      for line in log.splitlines() if line.startswith('|'))
    }
    assert rows['aeroplane'] == ['50.00', '2']
    assert rows['bus'] == ['75.00', '4']
    assert rows['truck'] == ['100.00', '1']
    assert rows['mean (per class)'][0] == '75.00'
    assert rows['overall top-1'][0] == f'{100 * 5 / 7:.2f}'


def test_without_dataset_meta_class_indices_are_used(log_file):
    res = evaluate(score_samples([0, 1, 1], [0, 1, 0], 2))
    assert res['accuracy/mean'] == pytest.approx(75.)
    assert '| class 1' in log_file()


def test_pred_label_only_samples(log_file):
    samples = [
        dict(pred_label=torch.tensor([p]), gt_label=torch.tensor([g]))
        for g, p in [(0, 0), (1, 0), (1, 1), (2, 2)]
    ]
    res = evaluate(samples, classes=['a', 'b', 'c'])
    assert res['accuracy/mean'] == pytest.approx((100 + 50 + 100) / 3)
    assert res['accuracy/top1'] == pytest.approx(75.)


def test_per_class_keys_and_prefix(log_file):
    res = evaluate(
        score_samples([0, 1, 1], [0, 1, 0], 3),
        classes=['a', 'b', 'c'],
        per_class_keys=True,
        prefix='visda')
    assert res == pytest.approx({
        'visda/mean': 75.,
        'visda/top1': 100 * 2 / 3,
        'visda/class/a': 100.,
        'visda/class/b': 50.,
    })


def test_through_an_evaluator_built_from_the_visda_config(log_file):
    cfg = load_config(
        osp.join(REPO, 'configs', '_base_', 'datasets', 'visda.py'))
    assert cfg.val_evaluator.type == 'MeanClassAccuracy'
    evaluator = Evaluator(METRICS.build(cfg.val_evaluator))
    evaluator.dataset_meta = dict(classes=cfg.classes)
    gts = list(range(12)) * 2
    preds = list(range(12)) + [0] * 12
    samples = score_samples(gts, preds, 12)
    evaluator.process(samples[:10])
    evaluator.process(samples[10:])
    res = evaluator.evaluate(len(samples))
    assert res['accuracy/top1'] == pytest.approx(100 * 13 / 24)
    assert res['accuracy/mean'] == pytest.approx(
        100 * balanced_accuracy_score(gts, preds))
    assert '| skateboard' in log_file()


def test_errors_are_one_line(log_file):
    with pytest.raises(ValueError) as exc:
        evaluate(score_samples([0, 5], [0, 0], 6), classes=['a', 'b'])
    assert 'gt_label 5' in str(exc.value) and '`classes`' in str(exc.value)
    assert '\n' not in str(exc.value)

    metric = MeanClassAccuracy()
    with pytest.raises(KeyError) as exc:
        metric.process(None, [dict(pred_score=torch.ones(2))])
    assert 'gt_label' in str(exc.value)
    with pytest.raises(KeyError) as exc:
        metric.process(None, [dict(gt_label=torch.tensor([0]))])
    assert 'pred_score' in str(exc.value)
