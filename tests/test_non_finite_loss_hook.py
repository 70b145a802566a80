"""NonFiniteLossHook: a NaN/Inf loss stops the run at once, names the
iteration and the terms, saves nothing from the bad state and keeps the last
good checkpoint; it is part of every config's default runtime."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.registry import HOOKS as ROOT_HOOKS
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import Dataset

from conftest import REPO_ROOT
from mmvlpuda.engine.hooks import (NonFiniteError, NonFiniteLossError,
                                   NonFiniteLossHook, NonFiniteWeightError)
from mmvlpuda.registry import DATASETS, MODELS
# fixtures of the config tests: generated data sets, cheap tiny runs
from test_configs import data_roots, fast_tiny_runs  # noqa: F401
from test_example_new_task import toy_data  # noqa: F401


@MODELS.register_module(force=True)
class NaNAtIterNet(BaseModel):
    """Two loss terms; ``loss_b`` becomes ``bad`` (nan/inf) at the
    ``bad_at``-th call of the loss forward (1-based, = the iteration)."""

    def __init__(self, bad_at=3, bad='nan'):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.bad_at, self.bad = bad_at, float(bad)
        self.calls = 0

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.fc(inputs)
        if mode != 'loss':
            return out
        self.calls += 1
        loss_b = out.pow(2).mean()
        if self.calls >= self.bad_at:
            loss_b = loss_b * self.bad
        return dict(
            loss_a=nn.functional.cross_entropy(out, labels),
            loss_b=loss_b,
            acc=torch.tensor(float('nan')))


@MODELS.register_module(force=True)
class NaNOwnTrainStepNet(NaNAtIterNet):
    """A model whose train_step does not use parse_losses."""

    def train_step(self, data, optim_wrapper):
        data = self.data_preprocessor(data, True)
        losses = self(**data, mode='loss')
        total = losses['loss_a'] + losses['loss_b']
        optim_wrapper.update_params(total)
        return dict(loss=total.detach(), loss_b=losses['loss_b'].detach())


@DATASETS.register_module(force=True)
class NaNToyDataset(Dataset):
    metainfo = dict(classes=('a', 'b'))

    def __init__(self, size=32):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(size, 4, generator=g)
        self.y = torch.randint(0, 2, (size, ), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], labels=self.y[i])


def _runner(tmp_path, model, check_loss, max_iters=6, ckpt_interval=1):
    return Runner(
        model=model,
        work_dir=str(tmp_path),
        experiment_name=f'nan-{os.getpid()}-{id(tmp_path)}',
        default_scope='mmvlpuda',
        train_dataloader=dict(
            dataset=dict(type='NaNToyDataset'),
            sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=4,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(
                type='CheckpointHook',
                by_epoch=False,
                interval=ckpt_interval,
                max_keep_ckpts=2),
            check_loss=check_loss),
        randomness=dict(seed=0),
        log_level='WARNING')


def _files(work_dir):
    return sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))


def _finite(state):
    return all(
        bool(torch.isfinite(t).all()) for t in state.values()
        if t.is_floating_point())


def test_nan_at_iteration_k_stops_before_the_step(tmp_path,
                                                  isolated_runner_state):
    runner = _runner(tmp_path, dict(type='NaNAtIterNet', bad_at=3),
                     dict(type='mmvlpuda.NonFiniteLossHook'))
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    msg = str(info.value)
    assert msg == (
        'non-finite loss at iteration 3: loss_b=nan (total loss=nan); '
        "training stopped before this iteration's optimizer step; last "
        f'checkpoint: {tmp_path}/iter_2.pth')
    assert '\n' not in msg and 'acc' not in msg  # only loss terms count
    # nothing saved from iteration 3, the good ones kept
    assert _files(tmp_path) == ['iter_1.pth', 'iter_2.pth']
    with open(tmp_path / 'last_checkpoint') as f:
        assert f.read() == f'{tmp_path}/iter_2.pth'
    # the bad iteration's step never happened: weights = the iter_2 save
    saved = torch.load(tmp_path / 'iter_2.pth', weights_only=False)
    assert _finite(saved['state_dict'])
    for name, p in runner.model.state_dict().items():
        assert torch.equal(p, saved['state_dict'][name]), name
    assert runner.iter == 2
    # the log file has the line too; parse_losses is the class method again
    log_file, = glob.glob(str(tmp_path / '*' / '*.log'))
    log = open(log_file).read()
    assert msg in log
    assert 'parse_losses' not in vars(runner.model)


@pytest.mark.parametrize('bad', ['inf', '-inf'])
def test_inf_is_named_too(tmp_path, bad, isolated_runner_state):
    runner = _runner(tmp_path, dict(type='NaNAtIterNet', bad_at=1, bad=bad),
                     dict(type='NonFiniteLossHook'))
    with pytest.raises(
            NonFiniteLossError,
            match=rf'^non-finite loss at iteration 1: '
            rf'loss_b={bad} \(total loss={bad}\);.*'
            'last checkpoint: none saved yet$'):
        runner.train()
    assert _files(tmp_path) == []


def test_interval_zero_switches_it_off(tmp_path, isolated_runner_state):
    runner = _runner(
        tmp_path,
        dict(type='NaNAtIterNet', bad_at=2),
        dict(type='NonFiniteLossHook', interval=0),
        max_iters=3)
    runner.train()  # the old behaviour: trains on with NaN
    assert _files(tmp_path) == ['iter_2.pth', 'iter_3.pth']
    assert not _finite(runner.model.state_dict())


def test_unchecked_iteration_is_still_checked_before_a_save(
        tmp_path, isolated_runner_state):
    # interval=2 checks iterations 2, 4, ...; the NaN of iteration 3 would be
    # saved as iter_3.pth: the save is refused
    runner = _runner(tmp_path, dict(type='NaNAtIterNet', bad_at=3),
                     dict(type='NonFiniteLossHook', interval=2))
    with pytest.raises(
            NonFiniteLossError,
            match='^non-finite loss at iteration 3: loss_b=nan '
            r'\(total loss=nan\); training stopped before saving '
            'a checkpoint from this state; last checkpoint: '
            f'{re.escape(str(tmp_path))}/iter_2.pth$'):
        runner.train()
    # mmengine removes the oldest kept checkpoint before each save: with
    # max_keep_ckpts=2 the last good one survives the refused save
    assert _files(tmp_path) == ['iter_2.pth']
    assert _finite(
        torch.load(tmp_path / 'iter_2.pth', weights_only=False)['state_dict'])


def test_model_without_parse_losses_is_checked_on_its_outputs(
        tmp_path, isolated_runner_state):
    runner = _runner(tmp_path, dict(type='NaNOwnTrainStepNet', bad_at=2),
                     dict(type='NonFiniteLossHook'))
    with pytest.raises(
            NonFiniteLossError,
            match='^non-finite loss at iteration 2: loss_b=nan '
            r'\(total loss=nan\); training stopped before saving'):
        runner.train()
    assert _files(tmp_path) == ['iter_1.pth']


@MODELS.register_module(force=True)
class FiniteLossNaNStepNet(NaNAtIterNet):
    """Finite losses, but the step of iteration ``bad_at`` leaves a NaN
    weight (as an overflowing update would)."""

    def train_step(self, data, optim_wrapper):
        log_vars = super().train_step(data, optim_wrapper)
        if self.calls == self.bad_at:
            with torch.no_grad():
                self.fc.bias[1] = float('nan')
        return log_vars

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.fc(inputs)
        if mode != 'loss':
            return out
        self.calls += 1
        # finite even with a NaN bias: the NaN row is masked out
        return dict(
            loss_a=nn.functional.cross_entropy(out[:, :1].nan_to_num(),
                                               torch.zeros_like(labels)))


def test_non_finite_weights_are_never_saved(tmp_path, isolated_runner_state):
    runner = _runner(tmp_path, dict(type='FiniteLossNaNStepNet', bad_at=2),
                     dict(type='NonFiniteLossHook'))
    with pytest.raises(NonFiniteWeightError) as info:
        runner.train()
    assert str(info.value) == (
        'non-finite weights at iteration 2: `fc.bias` holds 1 NaN/Inf value '
        '(of 2); no checkpoint saved from this state; last checkpoint: '
        f'{tmp_path}/iter_1.pth')
    assert _files(tmp_path) == ['iter_1.pth']


def test_bad_interval_is_rejected():
    with pytest.raises(ValueError, match='interval'):
        NonFiniteLossHook(interval=-1)
    assert not NonFiniteLossHook(interval=None).enabled


# every config runs with the hook -----------------------------------------
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p) + sorted(
        glob.glob(
            osp.join(REPO_ROOT, 'projects', 'example_new_task', 'configs',
                     '*.py')))
# one config of each family (runtime base): loading all 130 takes ~20 s
FAMILIES = [
    'configs/cmkd/officehome_rn50.py', 'configs/cmkd/visda_vitb16_fixmatch.py',
    'configs/pda/officehome_rn50.py',
    'configs/peft/officehome_rn50_lora_r4.py', 'configs/rst/digits_rn50.py',
    'configs/source_only/office31_rn50.py',
    'configs/zeroshot/imageclef_rn50.py', 'configs/seg/gta2cs_dlv2_rst_c1.py',
    'configs/seg/cs2acdc_m2f_cmkd.py', 'configs/seg/gta2cs_dlv2_bitfit.py',
    'configs/demo/cmkd_tiny-clip_mnist2uci.py',
    'configs/imagenet_cmkd/digits_efflite0_cmkd_rst.py',
    'projects/example_new_task/configs/multilabel_cmkd_rst_toy.py'
]


@pytest.mark.parametrize('rel', FAMILIES)
def test_each_config_family_has_the_hook_and_keeps_two_checkpoints(rel):
    import mmseg.registry  # noqa: F401  (mmseg scope for the seg configs)

    from mmvlpuda.utils import load_config
    cfg = load_config(osp.join(REPO_ROOT, rel))
    check = cfg.default_hooks.get('check_loss')
    assert check is not None and check.interval == 1
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        hook = ROOT_HOOKS.build(dict(check))
    assert isinstance(hook, NonFiniteLossHook)
    keep = cfg.default_hooks.checkpoint.get('max_keep_ckpts', -1)
    assert keep == -1 or keep >= 2


def test_no_config_drops_the_hook_or_keeps_one_checkpoint():
    """The rest, without loading: default_hooks is merged by key, so a leaf
    keeps the hook unless it names ``check_loss``; none keeps 1 ckpt."""
    assert len(CONFIGS) > 100
    bases = glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '_base_', '**', '*.py'),
        recursive=True)
    for path in CONFIGS + bases:
        rel = osp.relpath(path, REPO_ROOT)
        text = open(path).read().replace(' ', '')
        assert 'check_loss' not in text or rel.endswith('runtime.py'), rel
        assert not re.search(r'max_keep_ckpts=1\b', text), rel
    for base in ('configs/_base_/default_runtime.py',
                 'configs/seg/_base_/seg_runtime.py'):
        text = open(osp.join(REPO_ROOT, base)).read().replace(' ', '')
        assert "check_loss=dict(type='mmvlpuda.NonFiniteLossHook'" in text


# every model family: NaN weights after iteration 1 -> stop at iteration 2 --
@ROOT_HOOKS.register_module(force=True)
class PoisonWeightHook(Hook):
    """Makes a real model diverge at a chosen iteration: after iteration
    ``after`` has been trained and saved (LOWEST runs after CheckpointHook)
    its first trainable weight becomes NaN."""
    priority = 'LOWEST'

    def __init__(self, after=1):
        self.after = after

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.after:
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            p = next(p for p in model.parameters() if p.requires_grad)
            with torch.no_grad():
                p.fill_(float('nan'))


def _expect_stop_at_iteration_2(runner, work_dir, terms):
    assert any(isinstance(h, NonFiniteLossHook) for h in runner.hooks)
    runner.register_hook(PoisonWeightHook(after=1))
    with pytest.raises(NonFiniteError) as info:
        runner.train()
    msg = str(info.value)
    if terms == 'weights':  # the forward itself fails on NaN weights
        assert isinstance(info.value, NonFiniteWeightError)
        assert msg.startswith('non-finite weights at iteration 2: `'), msg
        assert msg.endswith('); training stopped; last checkpoint: '
                            f'{work_dir}/iter_1.pth'), msg
    else:
        assert isinstance(info.value, NonFiniteLossError)
        assert msg.startswith('non-finite loss at iteration 2: '), msg
        assert msg.endswith("training stopped before this iteration's "
                            f'optimizer step; last checkpoint: {work_dir}/'
                            'iter_1.pth'), msg
        assert all(f'{t}=nan' in msg for t in terms), msg
    assert '\n' not in msg
    assert _files(work_dir) == ['iter_1.pth']
    assert _finite(
        torch.load(osp.join(work_dir, 'iter_1.pth'),
                   weights_only=False)['state_dict'])


CLS_FAMILIES = {  # config: loss terms that must be named
    'cmkd/officehome_rn50_fixmatch.py': ('loss_task', 'loss_fm_task'),
    'pda/officehome_rn50.py': ('loss_task', ),
    'peft/officehome_rn50_lora_r4.py': ('loss_task', ),
}


@pytest.mark.parametrize('config', sorted(CLS_FAMILIES))
def test_classification_families_stop(
        config,
        data_roots,  # noqa: F811
        fast_tiny_runs,  # noqa: F811
        tmp_path):
    from mmvlpuda.utils import load_config
    from test_configs import _close_logger, _tiny_cfg
    path = osp.join(REPO_ROOT, 'configs', config)
    root = data_roots('officehome', load_config(path))
    cfg = _tiny_cfg(path, root, str(tmp_path))
    cfg.default_hooks.checkpoint.interval = 1
    cfg.experiment_name = f'nan-{config}-{id(tmp_path)}'
    try:
        _expect_stop_at_iteration_2(
            Runner.from_cfg(cfg), str(tmp_path), CLS_FAMILIES[config])
    finally:
        _close_logger(cfg.experiment_name)


SEG_FAMILIES = {  # DACS (+RST) and CMKD-seg (Mask2Former), mmseg scope
    'gta2cs_dlv2_rst_c1': ('src.decode.loss_ce', 'mix.decode.loss_ce'),
    # Mask2Former's Hungarian matching raises on NaN predictions ('matrix
    # contains invalid numeric entries') before a loss exists
    'cs2acdc_m2f_cmkd': 'weights',
}


@pytest.mark.parametrize('name', sorted(SEG_FAMILIES))
def test_segmentation_families_stop(name, seg_trees, tmp_path,
                                    isolated_runner_state):
    from test_seg_configs import build_runner
    runner = build_runner(name, seg_trees, str(tmp_path),
                          **{'default_hooks.checkpoint.interval': 1})
    _expect_stop_at_iteration_2(runner, str(tmp_path), SEG_FAMILIES[name])


def test_example_project_stops(
        toy_data,  # noqa: F811
        tmp_path,
        isolated_runner_state):
    from test_example_new_task import _config
    cfg = _config(toy_data, tmp_path)
    cfg.default_hooks.checkpoint.interval = 1
    _expect_stop_at_iteration_2(
        Runner.from_cfg(cfg), str(tmp_path), ('loss_task', ))


# a real config through tools/train.py -------------------------------------
def test_diverged_demo_run_stops_with_one_line(tmp_path):
    """`make demo`'s config with lr=1e8 (the issue's reproduction)."""
    work = tmp_path / 'work'
    res = subprocess.run([
        sys.executable, 'tools/train.py',
        'configs/demo/cmkd_tiny-clip_mnist2uci.py', '--work-dir',
        str(work), '--cfg-options', 'optim_wrapper.optimizer.lr=1e8',
        'train_cfg.max_iters=4', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1'
    ],
                         cwd=REPO_ROOT,
                         capture_output=True,
                         text=True,
                         timeout=600,
                         env=dict(os.environ, HF_HUB_OFFLINE='1'))
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-3000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last == (
        'non-finite loss at iteration 2: loss_task=nan (total loss=nan); '
        "training stopped before this iteration's optimizer step; last "
        f'checkpoint: {work}/iter_1.pth'), res.stderr[-3000:]
    assert 'Traceback' not in res.stderr
    assert 'Iter(train) [1/4]' in res.stdout
    assert 'Iter(train) [2/4]' not in res.stdout
    assert _files(work) == ['iter_1.pth']
    assert _finite(
        torch.load(work / 'iter_1.pth', weights_only=False)['state_dict'])


def test_a_good_iteration_costs_one_host_read():
    """All loss terms are checked on the device; the one flag read is the
    only host sync of a finite iteration (a GPU waits once, not per term)."""
    from mmvlpuda.utils.host_sync import HostSyncCounter
    hook = NonFiniteLossHook()
    log_vars = {
        'loss': torch.tensor(1.),
        'loss_cls': torch.tensor(.5),
        'loss_task': torch.tensor(.5),
        'alpha': torch.tensor(.9),
        'loss_list': torch.ones(3)
    }
    with HostSyncCounter() as syncs:
        hook._check(None, 0, log_vars, stepped=False)
    assert syncs.reads == 1 and syncs.transfers == 0, syncs.calls
