"""PEFTHook under a Runner: every ``configs/peft`` config end to end on a
generated Office-Home tree, DSP logging, AdaLoRA rank allocation driven
from the optimizer, and checkpoints of the hook's old format."""
import glob
import math
import os.path as osp
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from PIL import Image

from conftest import REPO_ROOT
from mmvlpuda.engine.hooks import PEFTHook
from mmvlpuda.models import PEFTBackbone
from mmvlpuda.sparse import model_dsp
from mmvlpuda.utils import load_config
from peft_cases import (ALLOC_CFG, RN, SIZE, VIT, VIT_TARGETS, build,
                        one_torch_thread)

PEFT_CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs/peft/*.py')))


@pytest.fixture(scope='module', autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope='module')
def office_home_tree(tmp_path_factory):
    """65 classes x 1 image for the two domains of the configs."""
    root = tmp_path_factory.mktemp('office_home_peft')
    classes = load_config(PEFT_CONFIGS[0]).classes
    assert len(classes) == 65
    rng = np.random.default_rng(0)
    for domain in ('Art', 'Clipart'):
        for name in classes:
            folder = root / domain / name
            folder.mkdir(parents=True)
            img = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
            Image.fromarray(img).save(folder / '0.jpg')
    return str(root)


SMALL_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(SIZE, SIZE), keep_ratio=False),
    dict(type='mmpretrain.PackInputs'),
]


def _tiny_cfg(path, data_root, work_dir, max_iters=2, **extra):
    """The config with the tiny arch at its native 64 px, a 64 px pipeline,
    ``max_iters`` iterations and evaluation at the end."""
    arch = VIT if 'vitb16' in osp.basename(path) else RN
    options = {
        'data_root': data_root,
        'model.backbone.arch': arch,
        'model.backbone.pretrained': None,
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': max_iters,
    }
    options.update(extra)
    cfg = load_config(path, options)
    train = cfg.train_dataloader.dataset
    for ds in (train.source, train.target, cfg.val_dataloader.dataset):
        ds.pipeline = SMALL_PIPELINE
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'peft-{uuid.uuid4().hex[:8]}'
    cfg.log_level = 'WARNING'
    return cfg


def _trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize('path', PEFT_CONFIGS, ids=osp.basename)
def test_every_peft_config_trains_and_evaluates(path, office_home_tree,
                                                tmp_path,
                                                isolated_runner_state):
    cfg = _tiny_cfg(path, office_home_tree, tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    for key in ('train/loss', 'train/loss_cls'):
        assert math.isfinite(hub.get_scalar(key).current()), key
    assert 0. <= hub.get_scalar('val/accuracy/top1').current() <= 100.

    model = runner.model
    backbone = model.backbone
    method = cfg.model.backbone.method
    assert isinstance(backbone, PEFTBackbone) and backbone.method == method
    head = _trainable(model.task_head)
    dsp = hub.get_info('dsp')
    assert dsp == model_dsp(backbone) + head == _trainable(model)
    if method == 'linear_probe':
        assert dsp == head
    elif method == 'finetune':
        assert dsp == sum(p.numel() for p in backbone.parameters()) + head
    ckpt = torch.load(
        osp.join(cfg.work_dir, 'iter_2.pth'),
        map_location='cpu',
        weights_only=False)
    assert ckpt['meta']['dsp'] == dsp
    # the allocator state is the backbone's own, not the hook's
    assert 'adalora' not in ckpt
    assert any(
        k.startswith('backbone.adalora.exp_avg_ipt.')
        for k in ckpt['state_dict']) == (
            method == 'adalora')


def test_adalora_allocates_ranks_during_training(office_home_tree, tmp_path,
                                                 isolated_runner_state,
                                                 monkeypatch):
    calls = []
    original = PEFTBackbone.update_and_allocate

    def spy(self, global_step):
        grads = [p.grad for n, p in self.named_parameters() if '.lora_' in n]
        calls.append(
            (global_step, all(g is not None
                              for g in grads), self.adalora_config.total_step))
        return original(self, global_step)

    monkeypatch.setattr(PEFTBackbone, 'update_and_allocate', spy)
    path = osp.join(REPO_ROOT, 'configs/peft',
                    'officehome_vitb16_adalora_r2to1.py')
    cfg = _tiny_cfg(
        path,
        office_home_tree,
        tmp_path,
        max_iters=6,
        **{
            'model.backbone.peft_cfg.tinit': 0,
            'model.backbone.peft_cfg.tfinal': 2,
            'model.backbone.peft_cfg.deltaT': 1,
        })
    runner = Runner.from_cfg(cfg)
    runner.train()
    # called after every optimizer step, with the gradients still present,
    # at steps 0..5 of a total_step taken from train_cfg.max_iters
    assert calls == [(step, True, 6) for step in range(6)]
    backbone = runner.model.backbone
    pattern = backbone.adalora_config.rank_pattern
    assert pattern and len(pattern) == 8  # 2 blocks x (qkv, out, fc, proj)
    ranks = backbone.adalora_ranks()
    # budget phase ends at step total - tfinal = 4 with the target budget
    assert 0 < sum(ranks.values()) <= 1 * len(ranks) < 2 * len(ranks)
    params = dict(backbone.backbone.named_parameters())
    for name, keep in pattern.items():
        masked = ~torch.tensor(keep)
        assert torch.all(params[name].detach()[masked] == 0)
    assert backbone.num_effective_dsp_params() < model_dsp(backbone)
    hub = runner.message_hub
    assert hub.get_scalar('train/adalora_rank').current() == sum(
        ranks.values())
    assert hub.get_scalar('train/adalora_orth_reg').current() > 0
    hook = next(h for h in runner.hooks if isinstance(h, PEFTHook))
    assert hook._handles == []
    ckpt = torch.load(
        osp.join(cfg.work_dir, 'iter_6.pth'),
        map_location='cpu',
        weights_only=False)
    assert 'adalora' not in ckpt
    # a resumed run gets the allocator state back from the model state
    fresh = build(
        VIT, 'adalora',
        dict(
            init_r=2,
            target_r=1,
            lora_alpha=2,
            target_modules=VIT_TARGETS,
            total_step=6))
    fresh.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in ckpt['state_dict'].items() if k.startswith('backbone.')
        },
        strict=True)
    assert fresh.adalora_config.rank_pattern == pattern
    assert fresh.adalora_ranks() == ranks
    # --resume from the same checkpoint in the hook's old format
    own = 'backbone.adalora.'
    legacy = {
        group: {}
        for group in ('rank_pattern', 'exp_avg_ipt', 'exp_avg_unc')
    }
    for key in [k for k in ckpt['state_dict'] if k.startswith(own)]:
        group, _, name = key[len(own):].partition('.')
        legacy[group][name] = ckpt['state_dict'].pop(key)
    legacy['rank_pattern'] = {
        n: v.tolist()
        for n, v in legacy['rank_pattern'].items()
    }
    ckpt['adalora'] = legacy
    torch.save(ckpt, tmp_path / 'legacy.pth')
    cfg.work_dir = str(tmp_path / 'resumed')
    cfg.resume, cfg.load_from = True, str(tmp_path / 'legacy.pth')
    resumed = Runner.from_cfg(cfg)
    with pytest.deprecated_call(match=r"checkpoint\['adalora'\]"):
        resumed.train()  # already at max_iters: resume, hooks, no step
    assert resumed.iter == 6
    assert resumed.model.backbone.adalora_config.rank_pattern == pattern


def test_legacy_checkpoint_state_loads_into_every_adalora_backbone():
    """A checkpoint written by the old PEFTHook (``checkpoint['adalora']``,
    no allocator entries in the state dict) still loads: once, into every
    AdaLoRA backbone, with a DeprecationWarning."""
    cfg = ALLOC_CFG
    source = build(VIT, 'adalora', cfg)
    with torch.no_grad():
        for name, p in source.named_parameters():
            if '.lora_' in name:
                p.normal_(std=0.1)
    for step in range(2):
        source(torch.randn(2, 3, SIZE, SIZE)).sum().backward()
        source.update_and_allocate(step)
    legacy = source.adalora_state()
    assert legacy['rank_pattern'] and legacy['exp_avg_ipt']
    model = nn.ModuleDict(
        dict(
            student=build(VIT, 'adalora', cfg, seed=1),
            teacher=nn.Sequential(build(VIT, 'adalora', cfg, seed=2)),
            lora=build(VIT, 'lora', dict(target_modules=['c_fc']))))
    state_dict = {
        k: v
        for k, v in model.state_dict().items() if '.adalora.' not in k
    }
    checkpoint = dict(state_dict=state_dict, adalora=legacy)
    runner = SimpleNamespace(model=model)
    with pytest.deprecated_call(match=r"checkpoint\['adalora'\]"):
        PEFTHook().after_load_checkpoint(runner, checkpoint)
    assert 'adalora' not in checkpoint  # read once
    _load_checkpoint_to_model(model, checkpoint, strict=True)
    for backbone in (model['student'], model['teacher'][0]):
        state = backbone.adalora_state()
        assert state['rank_pattern'] == legacy['rank_pattern']
        for key in ('exp_avg_ipt', 'exp_avg_unc'):
            assert state[key].keys() == legacy[key].keys()
            assert all(
                torch.equal(state[key][n], legacy[key][n])
                for n in legacy[key])
