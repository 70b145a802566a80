"""PEFTBackbone / PEFTHook: the trainable sets of the paper's Table VII
baselines, exact adapters, AdaLoRA rank allocation under a Runner and every
``configs/peft`` config end to end on a generated Office-Home tree."""
import copy
import glob
import math
import os.path as osp
import uuid

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.runner import Runner
from PIL import Image

from conftest import REPO_ROOT
from mmvlpuda.engine.hooks import PEFTHook
from mmvlpuda.models import CLIPVisualBackbone, PEFTBackbone
from mmvlpuda.utils import load_config

VIT, RN = 'mmvlpuda-tiny-vit', 'mmvlpuda-tiny-rn'
VIT_TARGETS = ['attn', 'c_fc', 'c_proj']
RN_TARGETS = ['conv1', 'conv2', 'conv3', 'downsample.0']
PEFT_CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs/peft/*.py')))
SIZE = 64  # native input size of the tiny archs

CASES = {
    'linear_probe-rn': (RN, 'linear_probe', None),
    'linear_probe-vit': (VIT, 'linear_probe', None),
    'finetune-vit': (VIT, 'finetune', None),
    'bitfit-rn': (RN, 'bitfit', None),
    'bitfit-vit': (VIT, 'bitfit', None),
    'lora-rn': (RN, 'lora', dict(r=2, lora_alpha=2,
                                 target_modules=RN_TARGETS)),
    'lora-vit': (VIT, 'lora', dict(r=2, lora_alpha=2,
                                   target_modules=VIT_TARGETS)),
    'adalora-vit': (VIT, 'adalora',
                    dict(init_r=4, target_r=2, lora_alpha=4, total_step=10,
                         target_modules=VIT_TARGETS)),
}


@pytest.fixture(scope='module', autouse=True)
def one_torch_thread():
    """The tiny models are far faster single-threaded on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _build(arch, method, peft_cfg=None, seed=0, **kwargs):
    torch.manual_seed(seed)
    return PEFTBackbone(method=method, peft_cfg=peft_cfg, arch=arch,
                        **kwargs)


def _plain(arch, seed=0):
    torch.manual_seed(seed)
    return CLIPVisualBackbone(arch=arch)


def _base_name(name):
    return name.replace('.base_layer', '')


def _randomize_bn(backbone):
    """open_clip zero-inits every bottleneck's last BN weight, which kills
    the gradient of the residual branches of a randomly initialised RN."""
    for m in backbone.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)


# trainable sets -------------------------------------------------------------
@pytest.mark.parametrize('case', CASES)
def test_exact_trainable_set(case):
    arch, method, peft_cfg = CASES[case]
    backbone = _build(arch, method, peft_cfg)
    names = dict(backbone.named_parameters())
    trainable = {n for n, p in names.items() if p.requires_grad}
    if method == 'linear_probe':
        assert trainable == set()
    elif method == 'finetune':
        assert trainable == set(names)
    elif method == 'bitfit':
        assert trainable == {n for n in names if n.endswith('bias')}
        assert trainable
    elif method == 'lora':
        assert trainable == {n for n in names if '.lora_' in n}
        assert all(('lora_A' in n) or ('lora_B' in n) for n in trainable)
    else:  # adalora: P, Q and the singular values; ranknum stays frozen
        assert trainable == {
            n for n in names
            if any(k in n for k in ('lora_A', 'lora_B', 'lora_E'))
        }
    if method in ('lora', 'adalora'):
        # the pretrained weights are all still there, frozen
        plain = {n for n, _ in _plain(arch).named_parameters()}
        base = {_base_name(n) for n in names if '.lora_' not in n
                and '.ranknum' not in n}
        assert base == {f'backbone.{n}' for n in plain}
    assert backbone.num_dsp_params() == sum(names[n].numel()
                                            for n in trainable)


def test_adapted_modules_per_arch():
    vit = _build(VIT, 'lora', CASES['lora-vit'][2])
    adapted = {n.rsplit('.lora_A', 1)[0]
               for n, _ in vit.named_parameters() if '.lora_A' in n}
    assert adapted == {
        f'backbone.visual.transformer.resblocks.{i}.{m}'
        for i in range(2) for m in ('attn', 'attn.base_layer.out_proj',
                                    'mlp.c_fc', 'mlp.c_proj')
    }
    rn = _build(RN, 'lora', CASES['lora-rn'][2])
    convs = {n for n, m in _plain(RN).named_modules()
             if isinstance(m, nn.Conv2d)}
    adapted = {n[len('backbone.'):].rsplit('.lora_A', 1)[0]
               for n, _ in rn.named_parameters() if '.lora_A' in n}
    assert adapted == convs and len(convs) == 19


@pytest.mark.parametrize('case', CASES)
def test_steps_move_only_the_trainable_set(case):
    arch, method, peft_cfg = CASES[case]
    backbone = _build(arch, method, peft_cfg)
    _randomize_bn(backbone)
    with torch.no_grad():  # zero-initialised factors get a gradient at once
        for name, p in backbone.named_parameters():
            if 'lora_B' in name or 'lora_E' in name:
                p.normal_(std=0.05)
    head = nn.Linear(backbone.embed_dims, 3)
    init = {n: t.detach().clone()
            for n, t in backbone.state_dict(keep_vars=True).items()}
    ids = {n: id(p) for n, p in backbone.named_parameters()}
    params = [p for p in backbone.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params + list(head.parameters()), lr=0.05,
                                momentum=0.9)
    backbone.train()
    x, y = torch.randn(4, 3, SIZE, SIZE), torch.tensor([0, 1, 2, 0])
    for step in range(3):
        feats = backbone(x)
        assert feats.shape == (4, backbone.embed_dims)
        nn.functional.cross_entropy(head(feats), y).backward()
        optimizer.step()
        optimizer.zero_grad()
    # frozen weights and BN statistics (norm_eval) are bit-identical, and
    # the Parameter objects are the same (nothing re-registered)
    after = backbone.state_dict(keep_vars=True)
    assert ids == {n: id(p) for n, p in backbone.named_parameters()}
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    for name, value in after.items():
        if name.endswith('k_proj.bias'):
            continue  # softmax is invariant to a key bias: zero gradient
        if name in trainable:
            assert not torch.equal(value, init[name]), f'{name} did not move'
        else:
            assert torch.equal(value, init[name]), f'{name} changed'


@pytest.mark.parametrize('case', ['lora-vit', 'lora-rn', 'adalora-vit'])
def test_adapters_equal_the_merged_dense_model(case):
    """Start: identical to the pretrained tower (zero update). With random
    adapter weights: identical to a plain tower holding W + ΔW — including
    nn.MultiheadAttention, whose frozen weights peft itself perturbs."""
    arch, method, peft_cfg = CASES[case]
    backbone = _build(arch, method, peft_cfg).eval()
    plain = _plain(arch).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), plain(x), rtol=0, atol=1e-6)
        for name, p in backbone.named_parameters():
            if '.lora_' in name:
                p.normal_(std=0.1)
        merged = {}
        for name, t in backbone.backbone.state_dict().items():
            if '.lora_' not in name and '.ranknum' not in name:
                merged[_base_name(name)] = t.clone()
        for name, layer in backbone.backbone.named_modules():
            if not hasattr(layer, 'get_delta_weight') or name.endswith(
                    'out_proj'):
                continue
            base = layer.get_base_layer()
            if isinstance(base, nn.MultiheadAttention):
                merged[f'{name}.in_proj_weight'] += layer.get_delta_weight(
                    'default')
                merged[f'{name}.out_proj.weight'] += \
                    base.out_proj.get_delta_weight('default')
            else:
                merged[f'{name}.weight'] += layer.get_delta_weight('default')
        plain.load_state_dict(merged)
        torch.testing.assert_close(backbone(x), plain(x), rtol=1e-5,
                                   atol=1e-5)
        assert not torch.allclose(backbone(x), _plain(arch).eval()(x))


def test_linear_probe_and_norm_eval_survive_train():
    probe = nn.Sequential(_build(RN, 'linear_probe'))
    probe.train()
    assert not probe[0].backbone.training
    lora = _build(RN, 'lora', CASES['lora-rn'][2], norm_eval=True)
    assert lora.norm_eval and lora.embed_dims == 32
    nn.Sequential(lora).train()
    bns = [m for m in lora.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert lora.backbone.visual.conv1.training  # the rest is in train mode
    out = probe[0](torch.randn(2, 3, SIZE, SIZE))
    assert not out.requires_grad


# errors ----------------------------------------------------------------------
@pytest.mark.parametrize('kwargs,match', [
    (dict(arch=VIT, method='prefix'), 'method must be one of'),
    (dict(arch=VIT, method='bitfit', peft_cfg=dict(r=1)), 'takes no'),
    (dict(arch=VIT, method='lora', peft_cfg=dict(r=1)),
     'peft_cfg.target_modules'),
    (dict(arch=VIT, method='lora', peft_cfg=dict(target_modules=['qkv'])),
     "'qkv' not found.*peft_cfg.target_modules"),
    (dict(arch=VIT, method='lora', peft_cfg=dict(target_modules=['out_proj'])),
     'MultiheadAttention.*never run'),
    (dict(arch=RN, method='lora', peft_cfg=dict(target_modules=['q_proj'])),
     'AttentionPool2d'),
    (dict(arch=VIT, method='lora', peft_cfg=dict(target_modules=['ln_1'])),
     'LayerNorm.*supports'),
    (dict(arch=VIT, method='lora', peft_cfg=dict(target_modules=['c_fc'],
                                                 rank=2)),
     "unknown LoRA option 'rank'.*peft_cfg.rank"),
    (dict(arch=VIT, method='lora', frozen=True), 'frozen=True'),
    (dict(arch=VIT, method='finetune', backbone=dict(
        type='CLIPVisualBackbone', arch=RN)), 'both'),
    (dict(arch=VIT, method='adalora', peft_cfg=dict(
        target_modules=['c_fc'], total_step=10, tinit=5, tfinal=5)),
     'no budgeting phase'),
])
def test_bad_input_is_a_one_line_error(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        PEFTBackbone(**kwargs)
    assert '\n' not in str(info.value)


def test_adapter_that_never_runs_fails_on_first_forward():
    # a module that reads its child's weight instead of calling it
    backbone = _build(VIT, 'lora', dict(target_modules=['c_fc']))
    mlp = backbone.backbone.visual.transformer.resblocks[0].mlp
    mlp.forward = lambda x: nn.functional.linear(
        x, mlp.c_fc.weight, mlp.c_fc.bias)[..., :64]
    with pytest.raises(ValueError, match='resblocks.0.mlp.c_fc.*never'):
        backbone(torch.randn(1, 3, SIZE, SIZE))


def test_first_forward_check_is_per_copy_and_removes_its_hooks():
    backbone = _build(VIT, 'lora', dict(target_modules=VIT_TARGETS))
    clone = copy.deepcopy(backbone)  # e.g. an EMA model
    x = torch.randn(1, 3, SIZE, SIZE)
    torch.testing.assert_close(backbone(x), clone(x))
    for model in (backbone, clone):
        assert not any(m._forward_pre_hooks for m in model.modules())


def test_adalora_needs_a_total_step():
    backbone = _build(VIT, 'adalora', dict(target_modules=['c_fc']))
    with pytest.raises(RuntimeError, match='PEFTHook'):
        backbone.update_and_allocate(0)
    backbone.set_total_step(100)  # fractions resolve against it
    assert backbone.adalora_config.total_step == 100
    frac = _build(VIT, 'adalora', dict(target_modules=['c_fc'], tinit=0.1,
                                       tfinal=0.25, total_step=40))
    assert (frac.adalora_config.tinit, frac.adalora_config.tfinal) == (4, 10)


# under a Runner --------------------------------------------------------------


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
    assert dsp == backbone.num_dsp_params() + head == _trainable(model)
    if method == 'linear_probe':
        assert dsp == head
    elif method == 'finetune':
        assert dsp == sum(p.numel() for p in backbone.parameters()) + head
    ckpt = torch.load(osp.join(cfg.work_dir, 'iter_2.pth'),
                      map_location='cpu', weights_only=False)
    assert ckpt['meta']['dsp'] == dsp
    assert ('adalora' in ckpt) == (method == 'adalora')


def test_adalora_allocates_ranks_during_training(office_home_tree, tmp_path,
                                                 isolated_runner_state,
                                                 monkeypatch):
    calls = []
    original = PEFTBackbone.update_and_allocate

    def spy(self, global_step):
        grads = [p.grad for n, p in self.named_parameters() if '.lora_' in n]
        calls.append((global_step, all(g is not None for g in grads),
                      self.adalora_config.total_step))
        return original(self, global_step)

    monkeypatch.setattr(PEFTBackbone, 'update_and_allocate', spy)
    path = osp.join(REPO_ROOT, 'configs/peft',
                    'officehome_vitb16_adalora_r2to1.py')
    cfg = _tiny_cfg(
        path, office_home_tree, tmp_path, max_iters=6, **{
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
    assert backbone.num_effective_dsp_params() < backbone.num_dsp_params()
    hub = runner.message_hub
    assert hub.get_scalar('train/adalora_rank').current() == sum(
        ranks.values())
    assert hub.get_scalar('train/adalora_orth_reg').current() > 0
    hook = next(h for h in runner.hooks if isinstance(h, PEFTHook))
    assert hook._handles == [] and not backbone.allocator_attached
    ckpt = torch.load(osp.join(cfg.work_dir, 'iter_6.pth'),
                      map_location='cpu', weights_only=False)
    assert ckpt['adalora']['rank_pattern'] == pattern
    # a resumed run gets the allocator state back
    fresh = _build(VIT, 'adalora', dict(
        init_r=2, target_r=1, lora_alpha=2, target_modules=VIT_TARGETS,
        total_step=6))
    fresh.load_adalora_state(ckpt['adalora'])
    assert fresh.adalora_ranks() == ranks


def test_lora_on_dilated_convs_equals_the_merged_weights():
    """peft's Conv2d adapter ignores dilation; PEFTBackbone restores it so
    LoRA runs on DeepLab's dilated ResNet stages and equals W + B·A."""
    backbone = PEFTBackbone(method='lora',
                            backbone=dict(_scope_='mmseg',
                                          type='ResNetV1c',
                                          depth=18,
                                          dilations=(1, 1, 2, 4),
                                          strides=(1, 2, 1, 1),
                                          contract_dilation=True),
                            peft_cfg=dict(
                                r=2,
                                lora_alpha=2,
                                target_modules=r'.*layer\d\.\d+\.conv[12]'))
    backbone.eval()
    dilations = {
        m.base_layer.dilation
        for m in backbone.modules() if hasattr(m, 'lora_A')
    }
    assert {(2, 2), (4, 4)} <= dilations
    for module in backbone.modules():
        if hasattr(module, 'lora_B'):
            nn.init.normal_(module.lora_B['default'].weight, std=0.05)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = backbone(x)[-1]
        for module in backbone.modules():
            if hasattr(module, 'lora_B'):
                module.merge()
        merged = backbone(x)[-1]
    assert torch.allclose(out, merged, atol=1e-4)
