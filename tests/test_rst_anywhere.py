"""RSTHook in *foreign* OpenMMLab configs (projects/rst_anywhere).

Each example config inherits a stock mmpretrain / mmseg config
(``_base_ = ['mmpretrain::...']`` / ``['mmseg::...']``), points it at a
folder of images and adds the two RST lines (``custom_imports`` for mmvlpuda
and ``mmvlpuda.RSTHook`` in ``custom_hooks``). The tests shrink it for the
CPU with ``--cfg-options``-style overrides, train it for a few iterations on
a generated toy dataset, in-process, with the config's own ``default_scope``
('mmpretrain' / 'mmseg'), and check the RST invariant, that resets really
happened, the tau schedule and the ``checkpoint['rst']`` entry.
"""
import ast
import os
import os.path as osp
import uuid

os.environ.setdefault('HF_HUB_OFFLINE', '1')

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.utils import get_installed_path  # noqa: E402

PROJECT = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'projects',
    'rst_anywhere')
CLS_CFG = osp.join(PROJECT, 'configs', 'resnet18_rst_mmpretrain.py')
SEG_CFG = osp.join(PROJECT, 'configs', 'fcn_rst_mmseg.py')
MAX_ITERS = 4

# toy data -------------------------------------------------------------------
CLS_COLORS = {'red': (0, 0, 255), 'green': (0, 255, 0), 'blue': (255, 0, 0)}


def _make_cls_tree(root, per_class=(4, 2), size=32, seed=0):
    """``root/{train,val}/<class>/<i>.png``, one dominant colour per class."""
    rng = np.random.default_rng(seed)
    for split, n in zip(('train', 'val'), per_class):
        for cls, bgr in CLS_COLORS.items():
            folder = osp.join(root, split, cls)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 80, (size, size, 3)).astype(np.int32)
                img += np.array(bgr, dtype=np.int32) * 2 // 3
                cv2.imwrite(
                    osp.join(folder, f'{i}.png'),
                    np.clip(img, 0, 255).astype(np.uint8))
    return root


def _make_seg_tree(root, n=(4, 2), size=64, seed=0):
    """``root/img_dir/{train,val}/*.png`` + ``root/ann_dir/...`` label maps
    with classes 0 (background), 1 (square), 2 (disc) and some 255."""
    rng = np.random.default_rng(seed)
    for split, count in zip(('train', 'val'), n):
        img_dir = osp.join(root, 'img_dir', split)
        ann_dir = osp.join(root, 'ann_dir', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(count):
            img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
            label = np.zeros((size, size), np.uint8)
            x, y = rng.integers(4, size // 2 - 4, 2)
            img[y:y + 20, x:x + 20] = (40, 200, 40)
            label[y:y + 20, x:x + 20] = 1
            cx, cy = rng.integers(size // 2 + 8, size - 10, 2)
            cv2.circle(img, (int(cx), int(cy)), 8, (200, 40, 40), -1)
            cv2.circle(label, (int(cx), int(cy)), 8, 2, -1)
            label[:2] = 255  # an ignored border
            cv2.imwrite(osp.join(img_dir, f'{i}.png'), img)
            cv2.imwrite(osp.join(ann_dir, f'{i}.png'), label)
    return root


# config loading -------------------------------------------------------------
# What the tests override, as `--cfg-options` would (stock sizes are for
# GPUs; pretrained weights are not downloaded in the tests).
def _loader_options(data_root, batch_size):
    options = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options.update({
            f'{loader}.dataset.data_root': str(data_root),
            f'{loader}.batch_size': batch_size,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    return options


# 12 train images, batch 6: 2 iterations per epoch, 2 epochs
CLS_OPTIONS = {
    'model.backbone.init_cfg': None,
    'train_dataloader.dataset.pipeline.1.scale': 32,  # RandomResizedCrop
    'val_dataloader.dataset.pipeline.1.scale': 32,  # ResizeEdge
    'val_dataloader.dataset.pipeline.2.crop_size': 32,  # CenterCrop
    'train_cfg.max_epochs': MAX_ITERS // 2,
    'train_cfg.val_interval': MAX_ITERS // 2,
    'default_hooks.logger.interval': 1,
}
SEG_OPTIONS = {
    'model.pretrained': None,
    'model.data_preprocessor.size': (64, 64),
    'train_dataloader.dataset.pipeline.2.scale': (64, 64),  # RandomResize
    'train_dataloader.dataset.pipeline.3.crop_size': (64, 64),  # RandomCrop
    'val_dataloader.dataset.pipeline.1.scale': (64, 64),  # Resize
    'train_cfg.max_iters': MAX_ITERS,
    'train_cfg.val_interval': MAX_ITERS,
    'default_hooks.checkpoint.interval': MAX_ITERS,
    'default_hooks.logger.interval': 1,
}


def _small_cfg(path, options, data_root, work_dir, batch_size):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(
        dict(options, **_loader_options(data_root, batch_size)))
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'rst_anywhere_{uuid.uuid4().hex[:8]}'
    cfg.launcher = 'none'
    return cfg


# probes ----------------------------------------------------------------------
class _Probe(Hook):
    """Records the initial parameters (before_train) and, at the last
    iteration, the post-step / pre-projection parameters: registered with a
    higher priority than RSTHook, so its after_train_iter runs first."""

    def __init__(self):
        self.init = None
        self.pre_projection = None

    @staticmethod
    def _params(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return {
            n: p.detach().clone()
            for n, p in model.named_parameters() if p.requires_grad
        }

    def before_train(self, runner):
        self.init = self._params(runner)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == runner.max_iters:
            self.pre_projection = self._params(runner)


class _TauLog(Hook):
    """Logs the τ the RSTHook used at each iteration (runs after it)."""

    def __init__(self, rst):
        self.rst = rst
        self.taus = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.taus.append(self.rst.current_tau())


def _match(name, prefixes):
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def _train(cfg):
    """Build the Runner from the config exactly as tools/train.py would,
    attach the probes and train."""
    from mmengine.runner import Runner

    from mmvlpuda.engine.hooks.rst_hook import RSTHook

    runner = Runner.from_cfg(cfg)
    assert DefaultScope.get_current_instance().scope_name == cfg.default_scope
    rst = [h for h in runner.hooks if isinstance(h, RSTHook)]
    assert len(rst) == 1, [type(h).__name__ for h in runner.hooks]
    rst = rst[0]
    probe, tau_log = _Probe(), _TauLog(rst)
    runner.register_hook(probe, priority='HIGH')  # before RSTHook (40)
    runner.register_hook(tau_log, priority='NORMAL')  # after RSTHook
    assert runner.hooks.index(probe) < runner.hooks.index(rst) < \
        runner.hooks.index(tau_log)
    runner.train()
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    return runner, model, rst, probe, tau_log


def _check_rst(runner, model, rst, probe, include, ckpt_name):
    """The RST invariants after training; returns the parameter dict."""
    from mmvlpuda.sparse.checkpoint import decode_w0

    assert runner.iter == MAX_ITERS
    params = {n: p.detach() for n, p in model.named_parameters()}
    selected = {
        n
        for n, p in model.named_parameters()
        if p.requires_grad and _match(n, include)
    }
    w0 = rst.w0_state_dict()
    assert set(w0) == selected and selected
    tau = rst.current_tau()

    # w0 is the model at the start of training (after init_weights)
    for name in selected:
        assert torch.equal(w0[name], probe.init[name]), name

    # invariant: every selected entry is either w0 or moved by more than τ
    n_total = n_equal = 0
    for name in selected:
        w, base = params[name], w0[name]
        ok = (w == base) | ((w - base).abs() > tau)
        assert bool(ok.all()), (
            f'{name}: {int((~ok).sum())} entries with 0 < |w - w0| <= {tau}')
        n_total += w.numel()
        n_equal += int((w == base).sum())
    nnz = n_total - n_equal
    assert rst.nnz == nnz
    density = runner.message_hub.get_scalar('train/rst_density').current()
    assert density == pytest.approx(nnz / n_total)

    # the last projection really reset entries that the optimizer moved,
    # and left the ones that moved more than τ untouched
    reset = moved = kept = 0
    for name in selected:
        pre, post, base = probe.pre_projection[name], params[name], w0[name]
        big = (pre - base).abs() > tau
        moved_mask = pre != base
        snapped = moved_mask & (post == base)
        assert not bool((snapped & big).any()), name
        # |Δ| > τ: untouched, |Δ| <= τ: exactly w0
        assert torch.equal(post, torch.where(big, pre, base)), name
        moved += int(moved_mask.sum())
        reset += int(snapped.sum())
        kept += int(big.sum())
    assert moved > 0 and reset > 0, (moved, reset)
    assert kept == nnz

    # a checkpoint was written, is dense, and carries O(nnz) w0 under 'rst'
    ckpt_path = osp.join(runner.work_dir, ckpt_name)
    assert osp.isfile(ckpt_path)
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    assert 'rst' in ckpt
    # selected parameters, plus the BN running statistics (buffers are
    # recorded so that exported patches reproduce the model)
    names = set(ckpt['rst']['names'])
    assert selected <= names
    assert all('running_' in n for n in names - selected)
    assert sum(ckpt['rst']['w0_val'][n].numel() for n in selected) == nnz
    assert ckpt['meta']['rst']['nnz'] == nnz
    assert ckpt['meta']['rst']['tau'] == pytest.approx(tau)
    for name in selected:
        assert torch.equal(ckpt['state_dict'][name], params[name]), name
    decoded = decode_w0(ckpt)
    for name in selected:
        assert torch.equal(decoded[name], w0[name]), name
    return params, selected, n_equal / n_total


# tests -----------------------------------------------------------------------
def _stock(path):
    """The stock mmpretrain / mmseg config the example inherits."""
    lines = [line for line in open(path) if line.startswith('_base_')]
    assert len(lines) == 1, lines
    return ast.literal_eval(lines[0].split('=', 1)[1].strip())


def _unscoped(value):
    """``value`` without the ``_scope_`` keys that a ``pkg::`` base adds."""
    if isinstance(value, dict):
        return {k: _unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [_unscoped(v) for v in value]
    return value


def test_configs_are_stock_configs_plus_rst():
    for path, scope in ((CLS_CFG, 'mmpretrain'), (SEG_CFG, 'mmseg')):
        base = _stock(path)
        assert len(base) == 1 and base[0].startswith(f'{scope}::'), base
        cfg = Config.fromfile(path)
        pkg, rel = base[0].split('::')
        stock = Config.fromfile(
            osp.join(get_installed_path(pkg), '.mim', 'configs', rel))
        assert cfg.default_scope == stock.default_scope == scope
        assert cfg.custom_imports.imports in (['mmvlpuda'],
                                              ['mmvlpuda.models'])
        assert [h.type for h in cfg.custom_hooks] == ['mmvlpuda.RSTHook']
        assert 'custom_hooks' not in stock
        # model, schedule and runtime are the stock ones, apart from the
        # number of classes (and the pretrained weights of mmpretrain)
        for key in ('train_cfg', 'optim_wrapper', 'param_scheduler',
                    'default_hooks', 'env_cfg'):
            assert _unscoped(cfg[key]) == _unscoped(stock[key]), key
        assert cfg.model.backbone.type == stock.model.backbone.type
        assert cfg.model.backbone.depth == stock.model.backbone.depth == 18
    assert Config.fromfile(SEG_CFG).model.pretrained == \
        'open-mmlab://resnet18_v1c'
    assert Config.fromfile(CLS_CFG).model.backbone.init_cfg.type == \
        'Pretrained'


def test_rst_mmpretrain_image_classifier(tmp_path, isolated_runner_state):
    data_root = _make_cls_tree(str(tmp_path / 'data'))
    cfg = _small_cfg(
        CLS_CFG, CLS_OPTIONS, data_root, tmp_path / 'work', batch_size=6)
    assert cfg.train_cfg.by_epoch  # the stock epoch-based schedule
    hook_cfg = cfg.custom_hooks[0]
    assert hook_cfg.tau == 1e-4 and tuple(hook_cfg.include) == ('backbone', )

    runner, model, rst, probe, tau_log = _train(cfg)
    assert type(model).__name__ == 'ImageClassifier'
    assert tau_log.taus == [pytest.approx(1e-4)] * MAX_ITERS
    params, selected, frac_equal = _check_rst(runner, model, rst, probe,
                                              ('backbone', ),
                                              f'epoch_{MAX_ITERS // 2}.pth')

    # the head is outside the prefixes: it trains densely (nearly every
    # entry moved), while a much larger share of the backbone stays at w0
    head = [n for n in params if n.startswith('head.')]
    assert head and not set(head) & selected
    head_total = sum(params[n].numel() for n in head)
    head_changed = sum(int((params[n] != probe.init[n]).sum()) for n in head)
    assert head_changed / head_total > 0.5
    assert frac_equal > 1 - head_changed / head_total
    assert runner.message_hub.get_scalar('val/dsp') is not None


def test_rst_mmseg_encoder_decoder(tmp_path, isolated_runner_state):
    data_root = _make_seg_tree(str(tmp_path / 'data'))
    cfg = _small_cfg(
        SEG_CFG, SEG_OPTIONS, data_root, tmp_path / 'work', batch_size=2)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'  # stock; reverted
    hook_cfg = cfg.custom_hooks[0]
    tau, tau_end = hook_cfg.tau, hook_cfg.tau_end
    include = ('backbone', 'decode_head', 'auxiliary_head')
    assert tuple(hook_cfg.include) == include

    runner, model, rst, probe, tau_log = _train(cfg)
    assert type(model).__name__ == 'EncoderDecoder'
    # linear schedule: τ at iteration i is tau + (tau_end - tau) * (i+1)/N
    expected = [
        tau + (tau_end - tau) * (i + 1) / MAX_ITERS for i in range(MAX_ITERS)
    ]
    assert tau_log.taus == pytest.approx(expected)
    assert rst.current_tau() == pytest.approx(tau_end)
    params, selected, frac_equal = _check_rst(runner, model, rst, probe,
                                              include, f'iter_{MAX_ITERS}.pth')
    # every trainable tensor of the segmentor is under the three prefixes
    assert selected == {
        n
        for n, p in model.named_parameters() if p.requires_grad
    }
    assert 0 < frac_equal < 1
    assert any(n.startswith('decode_head.') for n in selected)
