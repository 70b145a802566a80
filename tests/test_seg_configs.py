"""The segmentation configs (configs/seg, see configs/seg/README.md).

* every config carries the paper's / DAFormer's settings (App. J, L);
* every config runs in-process through ``mmengine.runner.Runner`` with its
  real architecture shrunk (DeepLab-V2 on ResNet-V1c-18; Mask2Former with a
  16-channel ResNet-18, 32-d pixel decoder, 2 decoder layers, 8 queries)
  on generated Cityscapes/GTA/ACDC trees, with the mmcv stand-in (no
  compiled ops): 2 training iterations + evaluation (mIoU);
* ``tools/test.py`` gives mIoU for a segmentation checkpoint and for an
  RST patch applied onto its pretrained base.
"""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner

from conftest import REPO_ROOT
from mmvlpuda.utils import load_config
from seg_data import TINY_DLV2, TINY_M2F, cli_options

CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'seg', '*.py')))
NAMES = [osp.splitext(osp.basename(c))[0] for c in CONFIGS]


def tiny_options(name: str, roots: dict, work_dir: str) -> dict:
    opts = dict(TINY_DLV2 if name.startswith('gta2cs') else TINY_M2F)
    opts.update({
        'gta_root': roots['gta'],
        'cityscapes_root': roots['cityscapes'],
        'acdc_root': roots['acdc'],
        'rcs.min_pixels': 20,  # a rare block of the generated trees: 64 px
        'max_iters': 2,
        'train_cfg.val_interval': 2,
        'work_dir': work_dir,
        'default_hooks.logger.interval': 1,
        'randomness': dict(seed=0),
        'log_level': 'WARNING',
    })
    for loader in ('train_dataloader', 'val_dataloader'):
        opts[f'{loader}.num_workers'] = 0
        opts[f'{loader}.persistent_workers'] = False
    return opts


def build_runner(name, roots, work_dir, **extra):
    opts = tiny_options(name, roots, work_dir)
    opts.update(extra)
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs', 'seg', f'{name}.py'), opts)
    cfg.experiment_name = f'segcfg-{name}-{id(work_dir)}'
    return Runner.from_cfg(cfg)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------ settings


def test_config_set_is_complete():
    assert set(NAMES) == {
        'gta2cs_dlv2_finetune', 'gta2cs_dlv2_linear_probe',
        'gta2cs_dlv2_bitfit', 'gta2cs_dlv2_lora_r16', 'gta2cs_dlv2_rst_c1',
        'gta2cs_dlv2_rst_c2', 'cs2acdc_m2f_source_only', 'cs2acdc_m2f_cmkd',
        'cs2acdc_m2f_cmkd_rst'
    }


@pytest.mark.parametrize('name', [n for n in NAMES if n.startswith('gta')])
def test_gta2cs_settings_are_daformers(name):
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'seg', f'{name}.py'))
    assert cfg.default_scope == 'mmseg'
    assert cfg.model.type == 'mmvlpuda.DACS'
    assert cfg.model.ema_momentum == 0.999
    assert cfg.model.pseudo_threshold == 0.968
    assert (cfg.model.pseudo_weight_ignore_top,
            cfg.model.pseudo_weight_ignore_bottom) == (15, 120)
    seg = cfg.model.model
    assert seg.decode_head.type == 'mmvlpuda.DLV2Head'
    assert seg.decode_head.dilations == (6, 12)
    backbone = seg.backbone.get('backbone', seg.backbone)
    assert (backbone.type, backbone.depth) == ('ResNetV1c', 101)
    assert seg.pretrained == 'open-mmlab://resnet101_v1c'
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.lr,
            opt.optimizer.weight_decay) == ('AdamW', 6e-5, 0.01)
    assert opt.paramwise_cfg.custom_keys['head'].lr_mult == 10.
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 1500)
    assert (poly.type, poly.begin, poly.end) == ('PolyLR', -1, 40000)
    assert cfg.train_cfg.max_iters == 40000
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.crop_size == (512, 512)
    rcs = cfg.train_dataloader.dataset.rare_class_sampling
    assert (rcs.class_temp, rcs.min_pixels) == (0.01, 3000)
    hooks = {h['type']: h for h in cfg.get('custom_hooks', [])}
    if 'rst' in name:
        rst = hooks['mmvlpuda.RSTHook']
        assert (rst.mode, rst.density) == ('budget', PAPER_RST[name][1])
        assert rst.include == ('model.backbone', 'model.decode_head')
    if name.endswith(('linear_probe', 'bitfit', 'lora_r16')):
        assert seg.backbone.type == 'mmvlpuda.PEFTBackbone'
        assert 'mmvlpuda.PEFTHook' in hooks
    if name.endswith('lora_r16'):
        assert seg.backbone.peft_cfg.r == 16


@pytest.mark.parametrize('name', [n for n in NAMES if n.startswith('cs2')])
def test_cs2acdc_settings_are_appendix_l(name):
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'seg', f'{name}.py'))
    seg = cfg.model if name.endswith('source_only') else cfg.model.model
    assert seg.decode_head.type == 'Mask2FormerHead'
    assert seg.decode_head.num_queries == 100
    assert (seg.backbone.type, seg.backbone.depth) == ('ResNet', 50)
    assert cfg.crop_size == (512, 512)
    assert cfg.acdc_conditions == ('fog', 'night', 'rain', 'snow')
    if name.endswith('source_only'):
        return
    assert cfg.model.type == 'mmvlpuda.CMKDSegmentor'
    assert (cfg.model.ema_momentum, cfg.model.cls_weight,
            cfg.model.lambda1) == (0.99, 0.1, 0.25)
    assert cfg.model.variant == 'paper'  # KL(F || F-check) as App. L
    # the classification ramp T = 1e4 (VLP-UDA main.py:277), not the run
    assert (cfg.model.ramp_iters, cfg.train_cfg.max_iters) == (10000, 40000)
    assert cfg.optim_wrapper.optimizer.lr == 1e-5
    assert cfg.train_dataloader.dataset.type == 'mmvlpuda.UDASegDataset'
    hooks = {h['type']: h for h in cfg.get('custom_hooks', [])}
    if name.endswith('rst'):
        rst = hooks['mmvlpuda.RSTHook']
        assert (rst.mode, rst.density) == ('budget', PAPER_RST[name][1])
        assert rst.include == ('model.backbone', 'model.decode_head')
    else:
        assert 'mmvlpuda.RSTHook' not in hooks


# ------------------------------------------------------------ layout

SEG_BASES = osp.join(REPO_ROOT, 'configs', 'seg', '_base_')
#: the `_base_` axes every final config composes, in order (DAFormer's
#: configs/_base_/{models,uda,datasets,schedules} + the runtime)
AXES = ('models', 'uda', 'datasets', 'schedules', 'seg_runtime.py')


def _base_list(path: str) -> list:
    """The first `_base_` list found following single `_base_` strings."""
    import ast
    tree = ast.parse(open(path).read())
    value = next(
        node.value for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == '_base_')
    bases = ast.literal_eval(value)
    if isinstance(bases, str):
        return _base_list(osp.join(osp.dirname(path), bases))
    return [osp.normpath(osp.join(osp.dirname(path), b)) for b in bases]


@pytest.mark.parametrize('name', NAMES)
def test_configs_compose_model_uda_dataset_schedule_runtime(name):
    """One file per axis (configs/seg/README.md); the UDA wrapper comes
    from the uda axis, no config re-wraps the model (``_delete_``)."""
    bases = _base_list(osp.join(REPO_ROOT, 'configs', 'seg', f'{name}.py'))
    axes = tuple(osp.relpath(b, SEG_BASES).split(os.sep)[0] for b in bases)
    assert axes == AXES, bases
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'seg', f'{name}.py'))
    seg = cfg.model if name.endswith('source_only') else cfg.model.model
    assert seg == cfg.segmentor


def test_model_bases_export_only_the_segmentor():
    from mmengine.config import Config
    paths = glob.glob(osp.join(SEG_BASES, 'models', '*.py'))
    assert len(paths) == 2
    for path in paths:
        keys = set(Config.fromfile(path).keys())
        assert 'segmentor' in keys, path
        assert not keys & {
            'model', 'optim_wrapper', 'param_scheduler', 'train_cfg'
        }, path
    for path in CONFIGS + glob.glob(
            osp.join(SEG_BASES, '**', '*.py'), recursive=True):
        text = open(path).read().replace(' ', '')
        assert 'model=dict(\n_delete_' not in text, path


def _types(value):
    """Every ``type`` string of a (resolved) config tree."""
    if isinstance(value, dict):
        if isinstance(value.get('type'), str):
            yield value['type']
        for v in value.values():
            yield from _types(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _types(v)


@pytest.mark.parametrize('name', NAMES)
def test_mmvlpuda_modules_carry_the_prefix(name):
    """configs/seg/README.md: mmvlpuda modules are named
    ``type='mmvlpuda.X'`` (the configs' default scope is mmseg)."""
    from mmengine.registry import Registry

    import mmvlpuda.registry as registry
    ours = set()
    for reg in vars(registry).values():
        if isinstance(reg, Registry) and reg.scope == 'mmvlpuda':
            reg.import_from_location()
            ours |= set(reg.module_dict)
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'seg', f'{name}.py'))
    types = set(_types(cfg.to_dict()))
    assert types & {f'mmvlpuda.{t}' for t in ours}
    assert not {t for t in types if t in ours}, name


def daformer_lr(base_lr,
                i,
                max_iters=40000,
                warmup_iters=1500,
                warmup_ratio=1e-6):
    """mmcv 1.x ``PolyLrUpdaterHook`` (power 1, min_lr 0) with linear
    warm-up, as DAFormer ``configs/_base_/schedules/poly10warm.py:7-14``
    configures it: ``regular = base * (1 - i / max_iters)``
    (``get_lr``, iteration i over the whole run) and, for
    ``i < warmup_iters``, ``regular * (1 - k)`` with
    ``k = (1 - i / warmup_iters) * (1 - warmup_ratio)``
    (``LrUpdaterHook.get_warmup_lr``)."""
    lr = base_lr * (1 - i / max_iters)
    if i < warmup_iters:
        lr *= 1 - (1 - i / warmup_iters) * (1 - warmup_ratio)
    return lr


def test_dlv2_schedule_is_daformers_poly_times_warmup():
    """The warm-up multiplies a poly decay that starts at iteration 0
    (DAFormer, see :func:`daformer_lr`), not one that starts after the
    warm-up (up to 4 % higher lr). Checked on the config's schedulers as
    mmengine builds and steps them, for both lr groups (head x10): equal
    from iteration 1500 on; during the warm-up mmengine's LinearLR reaches
    1 one step earlier (<= 1/1499 relative, configs/seg/README.md)."""
    import warnings

    from mmengine.registry import PARAM_SCHEDULERS
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs', 'seg', 'gta2cs_dlv2_finetune.py'))
    base = cfg.optim_wrapper.optimizer.lr
    bases = (base, base * 10.)
    groups = [
        dict(params=[torch.nn.Parameter(torch.zeros(1))], lr=lr)
        for lr in bases
    ]
    optimizer = torch.optim.AdamW(groups)
    with warnings.catch_warnings():  # scheduler.step() before optimizer's
        warnings.simplefilter('ignore', UserWarning)
        schedulers = [
            PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
            for s in cfg.param_scheduler
        ]
        lrs = {}
        for i in range(20001):
            lrs[i] = [g['lr'] for g in optimizer.param_groups]
            for scheduler in schedulers:
                scheduler.step()
    for i in (0, 1500, 1501, 4000, 20000):
        for lr, b in zip(lrs[i], bases):
            assert lr == pytest.approx(daformer_lr(b, i), rel=1e-9), i
    assert lrs[0][0] == pytest.approx(6e-5 * 1e-6)
    assert lrs[1500][0] == pytest.approx(6e-5 * 0.9625)  # poly from 0
    assert lrs[20000][0] == pytest.approx(3e-5)
    for i in (1, 750, 1499):  # warm-up: at most one step ahead
        for lr, b in zip(lrs[i], bases):
            ref = daformer_lr(b, i)
            assert ref <= lr <= ref * (1 + 1 / 1499), i


# paper DSP (Table VII / IX) and the budget the config sets for it
PAPER_RST = dict(
    gta2cs_dlv2_rst_c1=(5.88e6 / 42.51e6, 0.138),
    gta2cs_dlv2_rst_c2=(12.6e6 / 42.51e6, 0.296),
    cs2acdc_m2f_cmkd_rst=(5.52e6, 0.1256))


@pytest.mark.parametrize('name', sorted(PAPER_RST))
def test_rst_budget_gives_the_papers_dsp_on_the_real_architecture(name):
    """The budget times the selected weights of the full-size student
    (DeepLab-V2 R101: 43.2M here vs the paper's 42.51M, so the fraction is
    matched; Mask2Former R50: 44.0M as in the paper, the DSP itself)."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS as SEG_MODELS
    cfg = load_config(osp.join(REPO_ROOT, 'configs', 'seg', f'{name}.py'))
    seg = cfg.model.model.copy()
    seg.pop('pretrained', None)
    seg.backbone.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = SEG_MODELS.build(seg)
    selected = sum(
        p.numel() for n, p in model.named_parameters()
        if p.requires_grad and n.startswith(('backbone', 'decode_head')))
    target, density = PAPER_RST[name]
    dsp = int(density * selected)
    if name.startswith('cs2acdc'):
        assert dsp == pytest.approx(target, rel=1e-3)
    else:
        assert dsp / selected == pytest.approx(target, rel=3e-3)


# ------------------------------------------------------------ tiny runs


def _trainable(model, prefix):
    return {
        n[len(prefix):]
        for n, p in model.named_parameters()
        if n.startswith(prefix) and p.requires_grad
    }


@pytest.mark.parametrize('name', NAMES)
def test_config_runs_two_iterations_and_evaluates(name, seg_trees, tmp_path,
                                                  one_thread,
                                                  isolated_runner_state):
    runner = build_runner(name, seg_trees, str(tmp_path))
    runner.train()
    metrics = runner.val_loop.run()
    assert 0. <= metrics['mIoU'] <= 100.
    assert osp.isfile(tmp_path / 'iter_2.pth')
    logged = {
        k.split('/', 1)[1]
        for k in runner.message_hub.log_scalars if k.startswith('train/')
    }
    model = runner.model
    if name.endswith('source_only'):
        assert 'decode.loss_cls' in logged
        return
    assert {
        'src.decode.loss_ce' if 'dlv2' in name else 'src.decode.loss_cls',
        'pseudo_weight'
    } <= logged
    if 'dlv2' in name:
        assert 'mix.decode.loss_ce' in logged
    else:
        assert {'tgt.loss_task', 'tgt.loss_distill', 'alpha'} <= logged
        assert not any(p.requires_grad for p in model.frozen_head.parameters())
    assert not any(p.requires_grad for p in model.ema_model.parameters())
    backbone = _trainable(model, 'model.backbone.')
    if name.endswith('linear_probe'):
        assert not backbone
    elif name.endswith('bitfit'):
        assert backbone and all(n.endswith('bias') for n in backbone)
    elif name.endswith('lora_r16'):
        assert backbone and all('lora_' in n for n in backbone)
    else:  # every backbone weight (Mask2Former: BN affine frozen)
        every = {
            n[len('model.backbone.'):]
            for n, _ in model.named_parameters()
            if n.startswith('model.backbone.')
        }
        frozen_bn = name.startswith('cs2acdc')
        assert backbone == {
            n
            for n in every
            if not (frozen_bn and ('bn' in n or 'downsample.1' in n))
        }
    if 'rst' in name:
        assert 'rst_density' in logged
        assert 'val/dsp' in runner.message_hub.log_scalars


@pytest.mark.parametrize('name', sorted(PAPER_RST))
def test_rst_budget_moves_backbone_and_decoder_with_real_optimizer(
        name, seg_trees, tmp_path, one_thread, isolated_runner_state):
    """With the configs' own optimizers and learning rates (AdamW 6e-5 /
    1e-5, lr multipliers, weight decay; no warm-up so that 4 steps move the
    weights), after every step exactly the scheduled budget of backbone +
    decoder weights differs from w0, and backbone weights are among them."""
    runner = build_runner(
        name,
        seg_trees,
        str(tmp_path),
        max_iters=4,
        **{
            'train_cfg.val_interval': 100,
            'param_scheduler': []
        })
    hook = next(h for h in runner.hooks if type(h).__name__ == 'RSTHook')
    seen = []

    def check(runner, batch_idx, data_batch=None, outputs=None):
        changed = dict(backbone=0, decode_head=0)
        for name, p, w0 in hook._entries:
            assert name.startswith(('model.backbone', 'model.decode_head'))
            changed[name.split('.')[1]] += int((p.detach() != w0).sum())
        seen.append((changed, hook.budget(), hook.current_density()))

    hook_after = hook.after_train_iter

    def after_train_iter(runner, batch_idx, data_batch=None, outputs=None):
        hook_after(runner, batch_idx, data_batch, outputs)
        check(runner, batch_idx)

    hook.after_train_iter = after_train_iter
    runner.train()
    density = PAPER_RST[name][1]
    # cubic ramp over the first half (2 of 4 steps), then the budget
    expected = [density + (1 - density) * 0.5**3] + [density] * 3
    assert [d for _, _, d in seen] == pytest.approx(expected)
    for changed, budget, _ in seen:
        assert sum(changed.values()) == budget
        assert changed['backbone'] > 0 and changed['decode_head'] > 0
    names = {n for n, _, _ in hook._entries}
    assert not any(
        n.startswith(('ema_model', 'frozen_head', 'imnet_model'))
        for n in names)


def test_papers_tau_ramp_would_freeze_the_dlv2_backbone(
        seg_trees, tmp_path, one_thread, isolated_runner_state):
    """Why the configs use budgets: with the paper's threshold start (τ
    5e-4) and the real AdamW lr 6e-5, no backbone weight ever escapes."""
    runner = build_runner(
        'gta2cs_dlv2_rst_c1',
        seg_trees,
        str(tmp_path),
        max_iters=2,
        **{
            'train_cfg.val_interval': 100,
            'param_scheduler': [],
            'custom_hooks.0.mode': 'threshold',
            'custom_hooks.0.density': None,
            'custom_hooks.0.tau': 5e-4,
            'custom_hooks.0.tau_end': 3.5e-2
        })
    runner.train()
    hook = next(h for h in runner.hooks if type(h).__name__ == 'RSTHook')
    for name, p, w0 in hook._entries:
        if name.startswith('model.backbone'):
            assert torch.equal(p.detach(), w0), name


# ------------------------------------------------------------ tools/test.py


def _run(args):
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONWARNINGS='ignore')
    proc = subprocess.run(
        [sys.executable] + args,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_tools_test_gives_miou_for_checkpoint_and_patch(
        seg_trees, tmp_path, one_thread, isolated_runner_state):
    """Train RST from a plain mmseg checkpoint (the pretrained base), then
    ``tools/test.py`` on the UDA checkpoint and on the exported patch
    applied onto that base: same mIoU."""
    name = 'gta2cs_dlv2_rst_c1'
    work = tmp_path / 'work'
    runner = build_runner(name, seg_trees, str(work))
    base = tmp_path / 'base.pth'
    torch.save({'state_dict': runner.model.model.state_dict()}, base)
    del runner
    runner = build_runner(
        name,
        seg_trees,
        str(work),
        load_from=str(base),
        **{
            'optim_wrapper.optimizer.lr': 1e-2,
            'param_scheduler': []
        })
    runner.train()
    ckpt = str(work / 'iter_2.pth')
    patch = str(tmp_path / 'gta2cs.patch')
    out = _run(['tools/export_patch.py', ckpt, 'from-ckpt', patch])
    assert 'residual nonzeros' in out
    opts = cli_options(tiny_options(name, seg_trees, str(tmp_path / 't')))
    opts.append('log_level=INFO')
    config = f'configs/seg/{name}.py'
    log_ckpt = _run(['tools/test.py', config, ckpt, '--cfg-options'] + opts)
    log_patch = _run(
        ['tools/test.py', config, '--patch', patch, '--cfg-options'] + opts +
        [f'load_from={base}'])
    assert 'applied patch' in log_patch

    def miou(log):
        import re
        return float(re.findall(r'mIoU: ([0-9.]+)', log)[-1])

    assert miou(log_ckpt) == miou(log_patch)
