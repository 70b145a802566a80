"""RSTHook under a real mmengine Runner on a toy model."""
import math
import os
import os.path as osp
import subprocess
import sys
from contextlib import contextmanager

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner import Runner
from torch.utils.data import Dataset

from conftest import REPO_ROOT
from mmvlpuda.engine.hooks import RSTHook
from mmvlpuda.registry import DATASETS, HOOKS, MODELS
from mmvlpuda.sparse import projection
from mmvlpuda.utils.host_sync import HostSyncCounter


@MODELS.register_module(force=True)
class RSTToyNet(BaseModel):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.head = nn.Linear(32, 3)

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.head(self.backbone(inputs))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        return logits


@DATASETS.register_module(force=True)
class RSTToyDataset(Dataset):
    metainfo = dict(classes=('a', 'b', 'c'))

    def __init__(self, size=64, identical=False):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(size, 8, generator=g)
        self.y = torch.randint(0, 3, (size, ), generator=g)
        if identical:  # every sample the same (DDP equivalence test)
            self.x[:] = self.x[0]
            self.y[:] = self.y[0]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], labels=self.y[i])


@HOOKS.register_module(force=True)
class RSTRecorderHook(Hook):
    """Checks the RST invariant after every iteration (runs after RST)."""
    priority = 'LOWEST'

    def __init__(self):
        self.records = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        rst = next(h for h in runner.hooks if isinstance(h, RSTHook))
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        params = dict(model.named_parameters())
        w0 = rst.w0_state_dict()
        tau = rst.last_tau if rst.density is not None else rst.current_tau()
        bad = 0
        for name, base in w0.items():
            diff = (params[name].detach() - base).abs()
            # budget mode keeps some entries tied at tau (position order)
            small = diff < tau if rst.density is not None else diff <= tau
            bad += int((small & (diff != 0)).sum())
        kept = sum(int((params[n].detach() != w0[n]).sum()) for n in w0)
        self.records.append(
            dict(
                iter=runner.iter,
                tau=tau,
                violations=bad,
                kept=kept,
                budget=rst.budget() if rst.density is not None else None,
                reported=rst.nnz,
                numel=sum(t.numel() for t in w0.values()),
                head=params['head.weight'].detach().clone()))


def _cfg(tmp_path, name, hook, max_iters=10, **overrides):
    cfg = dict(
        model=dict(type='RSTToyNet'),
        work_dir=str(tmp_path / name),
        experiment_name=f'{name}-{os.getpid()}-{id(tmp_path)}',
        default_scope='mmvlpuda',
        train_dataloader=dict(
            dataset=dict(type='RSTToyDataset'),
            sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=8,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=100),
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=5)),
        custom_hooks=[hook, dict(type='RSTRecorderHook')],
        randomness=dict(seed=0),
        log_level='WARNING')
    cfg.update(overrides)
    return cfg


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    rst = next(h for h in runner.hooks if isinstance(h, RSTHook))
    rec = next(h for h in runner.hooks if isinstance(h, RSTRecorderHook))
    return runner, rst, rec


def _params(runner):
    return {k: v.detach().clone() for k, v in runner.model.named_parameters()}


def test_invariant_after_every_iteration(tmp_path):
    runner, rst, rec = _train(
        _cfg(tmp_path, 'inv', dict(type='RSTHook', tau=2e-3)))
    assert len(rec.records) == 10
    assert all(r['violations'] == 0 for r in rec.records)
    # sparse: many weights moved by less than tau and were snapped back
    assert 0 < rec.records[-1]['kept'] < rec.records[-1]['numel']
    # the (unselected) head trains densely
    assert not torch.equal(rec.records[0]['head'], rec.records[-1]['head'])
    assert set(rst.w0_state_dict()) == {
        'backbone.0.weight', 'backbone.0.bias', 'backbone.2.weight',
        'backbone.2.bias'
    }


def test_projection_leaves_unselected_params_alone(tmp_path):
    runner, rst, _ = _train(
        _cfg(tmp_path, 'unsel', dict(type='RSTHook', tau=1e-3), max_iters=2))
    with torch.no_grad():
        for p in runner.model.parameters():
            p.add_(1e-4)  # below tau everywhere
    before = _params(runner)
    rst.project()
    after = _params(runner)
    assert torch.equal(after['head.weight'], before['head.weight'])
    assert torch.equal(after['head.bias'], before['head.bias'])
    w0 = rst.w0_state_dict()
    for name in w0:  # selected: moved <= tau -> back to w0 (or kept > tau)
        diff = (before[name] - w0[name]).abs()
        expect = torch.where(diff <= 1e-3, w0[name], before[name])
        assert torch.equal(after[name], expect)


def test_resume_is_bit_identical(tmp_path):
    hook = dict(type='RSTHook', tau=2e-3, reset_momentum=True)
    full, rst_full, _ = _train(_cfg(tmp_path, 'full', hook))
    ckpt = osp.join(full.work_dir, 'iter_5.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert 'rst' in state and state['meta']['rst']['nnz'] > 0
    resumed, rst_res, rec = _train(
        _cfg(tmp_path, 'resumed', hook, resume=True, load_from=ckpt))
    assert rec.records[0]['iter'] == 5  # continued, not restarted
    for name, w in _params(full).items():
        assert torch.equal(w, _params(resumed)[name]), name
    for name, w0 in rst_full.w0_state_dict().items():
        assert torch.equal(w0, rst_res.w0_state_dict()[name]), name


def test_w0_is_taken_after_load_from(tmp_path):
    model = RSTToyNet()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.123)
    path = str(tmp_path / 'pretrained.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    _, rst, _ = _train(
        _cfg(
            tmp_path,
            'loadfrom',
            dict(type='RSTHook', tau=1e-3),
            max_iters=2,
            load_from=path))
    assert all(torch.all(w0 == 0.123) for w0 in rst.w0_state_dict().values())


def test_scheduled_tau_grows_linearly(tmp_path):
    _, rst, rec = _train(
        _cfg(tmp_path, 'sched', dict(type='RSTHook', tau=1e-3, tau_end=1e-2)))
    for r in rec.records:
        expected = 1e-3 + (1e-2 - 1e-3) * (r['iter'] + 1) / 10
        assert r['tau'] == pytest.approx(expected)
        assert r['violations'] == 0
    assert rst.current_tau() == pytest.approx(1e-2)


def test_topk_keeps_the_scheduled_fraction(tmp_path):
    _, rst, rec = _train(
        _cfg(tmp_path, 'topk',
             dict(type='RSTHook', mode='topk', topk_start=100., topk_end=10.)))
    for r in rec.records:
        pct = 100. + (10. - 100.) * (r['iter'] + 1) / 10
        expected = math.floor(pct / 100. * r['numel'] + 1e-6)
        assert r['kept'] == expected, r['iter']
    assert rec.records[-1]['kept'] == math.floor(0.1 *
                                                 rec.records[-1]['numel'])


BUDGET_OPTIMIZERS = {
    # the budget holds whatever the optimizer and the lr scale
    'sgd-lr1e-6': dict(type='SGD', lr=1e-6, momentum=0.9),
    'sgd-lr0.05': dict(type='SGD', lr=0.05, momentum=0.9),
    'adamw-lr6e-5': dict(type='AdamW', lr=6e-5, weight_decay=0.01),
    'adam-lr1e-2': dict(type='Adam', lr=1e-2),
}


@pytest.mark.parametrize('optimizer', sorted(BUDGET_OPTIMIZERS))
def test_budget_gives_exactly_the_budget_after_every_step(tmp_path, optimizer):
    hook = dict(type='RSTHook', mode='budget', density=0.05, ramp_ratio=0.5)
    runner, rst, rec = _train(
        _cfg(
            tmp_path,
            'budget',
            hook,
            max_iters=12,
            optim_wrapper=dict(optimizer=BUDGET_OPTIMIZERS[optimizer])))
    numel = rec.records[0]['numel']
    for r in rec.records:
        t = min((r['iter'] + 1) / 12 / 0.5, 1.)
        density = 0.05 + (1 - 0.05) * (1 - t)**3
        assert r['budget'] == math.floor(density * numel + 1e-6)
        # every selected weight moves each step: the budget is met exactly
        assert r['kept'] == r['reported'] == r['budget'], r['iter']
        assert r['violations'] == 0
    # the second half holds the final budget; the kept weights are the
    # largest changes (everything else is exactly w0)
    assert rec.records[-1]['kept'] == math.floor(0.05 * numel)
    params, w0 = _params(runner), rst.w0_state_dict()
    diffs = torch.cat([(params[n] - w0[n]).abs().view(-1) for n in w0])
    top = diffs.topk(rec.records[-1]['kept']).values
    assert top.min() > 0 and (diffs > 0).sum() == len(top)


def test_budget_constant_from_the_first_step_with_a_linear_ramp(tmp_path):
    _, rst, rec = _train(
        _cfg(
            tmp_path, 'budget-const',
            dict(
                type='RSTHook',
                mode='budget',
                density=0.02,
                density_start=0.02)))
    assert {r['kept']
            for r in rec.records
            } == {math.floor(0.02 * rec.records[0]['numel'])}
    _, rst, rec = _train(
        _cfg(
            tmp_path, 'budget-linear',
            dict(
                type='RSTHook',
                mode='budget',
                density=0.1,
                ramp='linear',
                ramp_ratio=1.)))
    for r in rec.records:
        d = 1 + (0.1 - 1) * (r['iter'] + 1) / 10
        assert r['kept'] == math.floor(d * r['numel'] + 1e-6)


def test_budget_resume_is_bit_identical(tmp_path):
    hook = dict(
        type='RSTHook', mode='budget', density=0.1, reset_momentum=True)
    full, rst_full, _ = _train(_cfg(tmp_path, 'full', hook))
    ckpt = osp.join(full.work_dir, 'iter_5.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    # iteration 5 of 10 ends the ramp (ramp_ratio 0.5): at the budget
    assert state['meta']['rst']['density'] == pytest.approx(0.1)
    assert state['meta']['rst']['nnz'] == math.floor(0.1 * 1344)
    resumed, rst_res, rec = _train(
        _cfg(tmp_path, 'resumed', hook, resume=True, load_from=ckpt))
    assert rec.records[0]['iter'] == 5
    for name, w in _params(full).items():
        assert torch.equal(w, _params(resumed)[name]), name
    for name, w0 in rst_full.w0_state_dict().items():
        assert torch.equal(w0, rst_res.w0_state_dict()[name]), name


def test_bias_mode_trains_only_biases(tmp_path):
    runner, rst, rec = _train(
        _cfg(tmp_path, 'bias', dict(type='RSTHook', mode='bias', tau=0.)))
    params = _params(runner)
    for name, w0 in rst.w0_state_dict().items():
        if name.endswith('weight'):
            assert torch.equal(params[name], w0), name
        else:
            assert not torch.equal(params[name], w0), name


def test_reset_momentum_zeroes_buffers_of_snapped_weights(tmp_path):
    runner, rst, _ = _train(
        _cfg(tmp_path, 'mom',
             dict(type='RSTHook', tau=2e-3, reset_momentum=True)))
    state = runner.optim_wrapper.optimizer.state
    params = dict(runner.model.named_parameters())
    checked = 0
    for name, w0 in rst.w0_state_dict().items():
        buf = state[params[name]]['momentum_buffer']
        snapped = params[name].detach() == w0
        assert torch.all(buf[snapped] == 0), name
        checked += int(snapped.sum())
    assert checked > 0


def test_skips_iterations_without_an_optimizer_step(tmp_path, monkeypatch):
    calls = []
    orig = RSTHook.project

    def counting(self, momenta=None):
        calls.append(1)
        return orig(self, momenta)

    monkeypatch.setattr(RSTHook, 'project', counting)
    _train(
        _cfg(
            tmp_path,
            'accum',
            dict(type='RSTHook', tau=1e-3),
            max_iters=6,
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.05), accumulative_counts=2)))
    assert len(calls) == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match='mode'):
        RSTHook(mode='random')
    with pytest.raises(TypeError, match='include'):
        RSTHook(include='backbone')
    with pytest.raises(ValueError, match='density'):
        RSTHook(mode='budget')
    with pytest.raises(ValueError, match='density'):
        RSTHook(mode='budget', density=1.5)
    with pytest.raises(ValueError, match='density'):
        RSTHook(density=0.1)  # threshold mode
    with pytest.raises(ValueError, match='ramp'):
        RSTHook(mode='budget', density=0.1, ramp='step')


def test_selecting_nothing_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='include'):
        _train(
            _cfg(
                tmp_path,
                'none',
                dict(type='RSTHook', include=('encoder', )),
                max_iters=1))


def test_prefixed_name_from_any_scope_bare_name_deprecated():
    """``type='mmvlpuda.RSTHook'`` resolves from mmseg / mmpretrain
    configs; the old bare name still works there with a warning; in the
    mmvlpuda scope the bare name is the real class."""
    import warnings

    from mmengine.registry import DefaultScope
    from mmpretrain.registry import HOOKS as CLS_HOOKS
    from mmseg.registry import HOOKS as SEG_HOOKS

    from mmvlpuda.registry import HOOKS
    for scope, registry in (('mmseg', SEG_HOOKS), ('mmpretrain', CLS_HOOKS)):
        with DefaultScope.overwrite_default_scope(scope):
            with warnings.catch_warnings():
                warnings.simplefilter('error', DeprecationWarning)
                hook = registry.build(dict(type='mmvlpuda.RSTHook', tau=1e-6))
            assert type(hook) is RSTHook
            with pytest.warns(DeprecationWarning, match="'mmvlpuda.RSTHook'"):
                old = registry.build(dict(type='RSTHook', tau=1e-6))
        assert isinstance(old, RSTHook) and old.tau == 1e-6
    assert HOOKS.get('RSTHook') is RSTHook


DDP_SCRIPT = r'''
import json, os, sys, torch
sys.path.insert(0, {repo!r}); sys.path.insert(0, {tests!r})
from mmvlpuda.utils import apply_runtime_fixes
apply_runtime_fixes()  # as tools/train.py: CPU launcher of mmengine 0.10.7
from test_rst_hook import _cfg, _params
from mmengine.runner import Runner
from pathlib import Path
launcher = sys.argv[1]
cfg = _cfg(Path({tmp!r}), 'ddp-' + launcher, json.loads(sys.argv[2]),
           max_iters=6, launcher=launcher)
cfg['train_dataloader']['dataset'] = dict(type='RSTToyDataset',
                                          identical=True)
from mmvlpuda.utils.launch import setup_cpu_distributed
from mmengine.config import Config
cfg = setup_cpu_distributed(Config(cfg))
runner = Runner.from_cfg(cfg)
runner.train()
model = getattr(runner.model, 'module', runner.model)
rank = int(os.environ.get('RANK', 0))
torch.save({{k: v.detach() for k, v in model.named_parameters()}},
           os.path.join({tmp!r}, f'{{launcher}}-{{rank}}.pt'))
'''


@pytest.mark.parametrize(
    'hook', [
        dict(type='RSTHook', tau=2e-3),
        dict(type='RSTHook', mode='budget', density=0.05, ramp_ratio=0.5),
    ],
    ids=['threshold', 'budget'])
def test_ddp_two_gloo_processes_match_single_process(tmp_path, hook):
    import json
    script = tmp_path / 'ddp_rst.py'
    script.write_text(
        DDP_SCRIPT.format(
            repo=REPO_ROOT,
            tests=osp.join(REPO_ROOT, 'tests'),
            tmp=str(tmp_path)))
    # CPU + gloo on every machine: with a GPU visible the 2-rank run would
    # pick nccl and need two GPUs (and the single run would be on CUDA)
    env = dict(os.environ, HF_HUB_OFFLINE='1', CUDA_VISIBLE_DEVICES='')
    single = subprocess.run(
        [sys.executable, str(script), 'none',
         json.dumps(hook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    port = str(29700 + os.getpid() % 200)
    ddp = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={port}',
        str(script), 'pytorch',
        json.dumps(hook)
    ],
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    ref = torch.load(tmp_path / 'none-0.pt')
    for rank in (0, 1):
        got = torch.load(tmp_path / f'pytorch-{rank}.pt')
        for name, w in ref.items():
            assert torch.equal(got[name], w), (rank, name)


@OPTIM_WRAPPERS.register_module(force=True)
class CPUAutocastOptimWrapper(OptimWrapper):
    """bf16 autocast on CPU (mmengine's AmpOptimWrapper needs a GPU)."""

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=torch.bfloat16):
            yield


def test_mixed_precision_training(tmp_path):
    runner, rst, rec = _train(
        _cfg(
            tmp_path,
            'amp',
            dict(type='RSTHook', tau=2e-3),
            max_iters=4,
            optim_wrapper=dict(
                type='CPUAutocastOptimWrapper',
                optimizer=dict(type='SGD', lr=0.05, momentum=0.9))))
    assert len(rec.records) == 4
    assert all(r['violations'] == 0 for r in rec.records)
    assert 0 < rec.records[-1]['kept'] < rec.records[-1]['numel']
    assert all(w.dtype == torch.float32 for w in rst.w0_state_dict().values())


@HOOKS.register_module(force=True)
class PoisonWeightHook(Hook):
    """Writes a NaN into a backbone weight before the step of one
    iteration (as a diverged optimizer step would)."""
    priority = 'HIGHEST'

    def __init__(self, at_iter=3):
        self.at_iter = at_iter

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter == self.at_iter:
            with torch.no_grad():
                runner.model.backbone[2].weight[0, 0] = float('nan')


@pytest.mark.parametrize(
    'hook', [
        dict(type='RSTHook', tau=2e-3),
        dict(type='RSTHook', mode='budget', density=0.05),
    ],
    ids=['threshold', 'budget'])
@pytest.mark.parametrize('path', ['numba', 'torch'])
def test_non_finite_selected_weight_stops_the_run_naming_it(
        tmp_path, hook, path, monkeypatch):
    if path == 'torch':  # the path CUDA/half-precision weights take
        monkeypatch.setattr(projection, 'njit', None)
    cfg = _cfg(tmp_path, 'nan', hook)
    cfg['custom_hooks'].append(dict(type='PoisonWeightHook', at_iter=3))
    with pytest.raises(
            FloatingPointError,
            match=r'`backbone\.2\.weight` became non-finite at '
            r'iteration 4'):
        _train(cfg)
    # checkpoints at interval 5: none was written from the bad state
    assert not osp.exists(osp.join(str(tmp_path / 'nan'), 'iter_5.pth'))


@pytest.mark.parametrize(
    'hook', [
        dict(tau=2e-3),
        dict(tau=2e-3, mode='bias'),
        dict(mode='budget', density=0.05, density_start=0.05)
    ],
    ids=['threshold', 'bias', 'budget'])
def test_torch_path_projection_reads_the_host_once_per_step(hook, monkeypatch):
    """No host sync per tensor: one read of the kept/non-finite counts per
    projection, however many tensors are selected."""
    monkeypatch.setattr(projection, 'njit', None)
    model = nn.Module()
    model.backbone = nn.Sequential(*[nn.Linear(16, 16) for _ in range(6)])
    rst = RSTHook(**hook)
    rst.setup(model)
    assert not rst._projection._fused and len(rst._entries) == 12
    rst.project()  # bias mode: builds its per-entry tau once
    for step in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 4e-3)
        with HostSyncCounter() as syncs:
            rst.project()
        assert syncs.reads == 1 and syncs.transfers == 0, syncs.calls
