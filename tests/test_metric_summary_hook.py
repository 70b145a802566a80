"""``MetricSummaryHook`` + the configs' ``CheckpointHook(save_best=...)``:
the run keeps the last and the best checkpoint and its log says which number
is which (the official ``main.py`` of Wenlve-Zhou/VLP-UDA reports the best
per-epoch target test accuracy)."""
import logging

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmvlpuda  # noqa: F401
from mmvlpuda.engine.hooks import MetricSummaryHook

SCORES = [0.5, 0.9, 0.7]  # evaluation 2 is the best, 3 the last

# each test builds a Runner: restore mmengine's global scope/hub/loggers
pytestmark = pytest.mark.usefixtures('isolated_runner_state')


class ToyData(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.ones(2))


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = (torch.stack(inputs) * self.w).sum()
        return dict(loss=out**2) if mode == 'loss' else [out]


class ScriptedMetric(BaseMetric):
    """Returns the next of SCORES at each evaluation."""

    default_prefix = 'accuracy'

    def __init__(self):
        super().__init__()
        self.calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.calls += 1
        return dict(top1=SCORES[self.calls - 1], other=-1.)


def _run(tmp_path, hook_args=None, save_best='accuracy/top1'):
    loader = dict(
        dataset=ToyData(),
        batch_size=2,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='pseudo_collate'))
    metric = ScriptedMetric()
    runner = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        val_dataloader=loader,
        val_evaluator=[metric],
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=6, val_interval=2),
        val_cfg=dict(),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook',
                by_epoch=False,
                interval=2,
                max_keep_ckpts=2,
                save_last=True,
                save_best=save_best,
                rule='greater'),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[
            dict(type='mmvlpuda.MetricSummaryHook', **(hook_args or {}))
        ],
        experiment_name=f'summary_{tmp_path.name}')
    records = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    MMLogger.get_current_instance().addHandler(handler)
    try:
        runner.train()
    finally:
        MMLogger.get_current_instance().removeHandler(handler)
    return runner, [r for r in records if r.startswith('Target ')]


def test_last_and_best_checkpoints_and_log(tmp_path):
    runner, lines = _run(tmp_path)
    files = {p.name for p in tmp_path.rglob('*.pth')}
    assert 'iter_6.pth' in files  # last
    assert 'best_accuracy_top1_iter_4.pth' in files  # best (0.9 at iter 4)
    assert len(lines) == 2
    assert 'last evaluation (iter 6' in lines[0] and '0.7000' in lines[0]
    assert 'best evaluation' in lines[1] and '0.9000' in lines[1]
    assert 'best_accuracy_top1_iter_4.pth' in lines[1]


def test_explicit_metric_without_best_checkpoint(tmp_path):
    _, lines = _run(tmp_path, dict(metric='accuracy/other'), save_best=None)
    assert lines == [
        'Target accuracy/other: last evaluation (iter 6, the final weights '
        '/ last checkpoint) = -1.0000'
    ]


def test_unknown_metric_is_a_one_line_error(tmp_path):
    with pytest.raises(KeyError, match='accuracy/nope'):
        _run(tmp_path, dict(metric='accuracy/nope'), save_best=None)


def test_no_evaluation_is_reported():
    hook = MetricSummaryHook()
    messages = []

    class Runner_:
        logger = type('L', (), {'info': staticmethod(messages.append)})

    hook.after_train(Runner_())
    assert messages == ['Target metric summary: no evaluation ran']
