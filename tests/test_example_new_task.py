"""projects/example_new_task: multi-label UDA with CMKD + RST, built from
its config through the registry, trained in-process on generated data."""
import copy
import glob
import importlib.util
import os.path as osp
import sys
import uuid

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from conftest import REPO_ROOT

if REPO_ROOT not in sys.path:  # `projects.example_new_task` is imported
    sys.path.insert(0, REPO_ROOT)
PROJECT = osp.join(REPO_ROOT, 'projects', 'example_new_task')
CONFIG = osp.join(PROJECT, 'configs', 'multilabel_cmkd_rst_toy.py')
MAX_ITERS = 4


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    spec = importlib.util.spec_from_file_location(
        'make_toy_data', osp.join(PROJECT, 'tools', 'make_toy_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = str(tmp_path_factory.mktemp('toy_multilabel'))
    module.make_domain(root, 'plain', noisy=False, num=24)
    module.make_domain(root, 'noisy', noisy=True, num=24)
    return root


def _config(data_root, work_dir):
    from mmvlpuda.utils import load_config
    cfg = load_config(
        CONFIG, {
            'data_root': data_root,
            'work_dir': str(work_dir),
            'train_cfg.max_iters': MAX_ITERS,
            'train_cfg.val_interval': MAX_ITERS,
            'default_hooks.checkpoint.interval': MAX_ITERS,
            'default_hooks.logger.interval': 1,
            'train_dataloader.batch_size': 4,
        })
    cfg.experiment_name = f'example_new_task_{uuid.uuid4().hex[:8]}'
    cfg.launcher = 'none'
    return cfg


class _InitialModel(Hook):
    """Copies the model when training starts (the patch's base)."""
    priority = 'LOWEST'

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.model = copy.deepcopy(model)


def test_project_is_small():
    files = glob.glob(osp.join(PROJECT, 'multilabel_cmkd', '*.py')) + \
        glob.glob(osp.join(PROJECT, 'configs', '*.py'))
    lines = sum(len(open(f).read().splitlines()) for f in files)
    assert lines < 200, lines


def test_binary_reduction_and_alpha():
    """sigmoid(z) is the 'present' probability of the two-class logits, and
    CMKDLoss sees alpha = 1 when teacher and student agree."""
    from mmvlpuda.models.losses import CMKDLoss
    from projects.example_new_task.multilabel_cmkd.model import binary
    z = torch.randn(3, 5)
    probs = binary(z).softmax(-1)
    assert probs.shape == (15, 2)
    assert torch.allclose(probs[:, 0].view(3, 5), z.sigmoid())
    out = CMKDLoss(variant='paper')(binary(z), binary(z), binary(z),
                                    torch.zeros(15, dtype=torch.long), 0)
    assert torch.allclose(out['alpha'], torch.ones(15))


def test_train_export_and_apply_patch(toy_data, tmp_path,
                                      isolated_runner_state):
    from mmengine.runner import Runner

    from mmvlpuda.engine.hooks import RSTHook
    from mmvlpuda.sparse import Patch, apply_patch
    cfg = _config(toy_data, tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    initial = _InitialModel()
    runner.register_hook(initial)
    model = runner.model
    # the registry built the project's modules from the config
    assert type(model).__name__ == 'MultiLabelCMKD'
    assert type(model.teacher_head).__name__ == 'BinaryPromptHead'
    assert type(model.task_head).__name__ == 'TaskHead'
    hooks = [type(h).__name__ for h in runner.hooks]
    assert 'RSTHook' in hooks and 'ExportPatchHook' in hooks
    runner.train()

    hub = runner.message_hub
    for key in ('loss_cls', 'loss_task', 'loss_distill', 'loss_reg_src',
                'alpha', 'rst_density'):
        assert hub.get_scalar(f'train/{key}') is not None, key
    assert 0. <= hub.get_scalar('train/alpha').current() <= 1.
    assert 0. <= hub.get_scalar('val/multi-label/mAP').current() <= 100.

    # the RST invariant on the backbone
    rst = next(h for h in runner.hooks if isinstance(h, RSTHook))
    tau = rst.current_tau()
    params = dict(model.named_parameters())
    nnz = 0
    for name, w0 in rst.w0_state_dict().items():
        w = params[name].detach()
        assert bool(((w == w0) | ((w - w0).abs() > tau)).all()), name
        nnz += int((w != w0).sum())
    assert nnz > 0

    # final.patch on the initial model = the trained model, bit-exactly
    patch = Patch.load(osp.join(cfg.work_dir, 'final.patch'))
    # the backbone's residual nonzeros (the rest are BN running statistics)
    assert sum(patch.sparse[n].nnz for n in rst.w0_state_dict()) == nnz
    stored = set(patch.dense) | set(patch.sparse)
    assert any(n.startswith('task_head.bn.running') for n in stored)
    base = initial.model
    apply_patch(base, patch)
    trained, patched = model.state_dict(), base.state_dict()
    assert trained.keys() == patched.keys()
    for name in trained:
        if name.endswith('num_batches_tracked'):
            continue  # an integer counter unused at inference, not stored
        assert torch.equal(trained[name], patched[name]), name
    model.eval()
    base.eval()
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model(x), base(x))


def test_rsthook_patch_reproduces_the_trained_model():
    from types import SimpleNamespace

    from mmvlpuda.engine.hooks import RSTHook
    from mmvlpuda.models.heads import TaskHead
    from mmvlpuda.sparse import apply_patch
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(8, 8)
    model.task_head = TaskHead(in_channels=8, num_classes=3)
    base = copy.deepcopy(model)
    rst = RSTHook(tau=0.)
    rst.setup(model)
    with torch.no_grad():  # a "training step": weights and BN stats move
        model.backbone.weight[0, 0] += 1.
        model.task_head.fc.weight += .1
        model.train()
        model.task_head(model.backbone(torch.randn(16, 8)))
    apply_patch(base, rst.make_patch(SimpleNamespace(model=model)))
    trained, patched = model.state_dict(), base.state_dict()
    # every floating tensor (incl. BN running statistics) is reproduced;
    # the integer num_batches_tracked counter is not part of a patch
    assert all(
        torch.equal(trained[n], patched[n]) for n in trained
        if trained[n].is_floating_point())
    x = torch.randn(4, 8)
    model.eval(), base.eval()
    assert torch.equal(
        model.task_head(model.backbone(x)), base.task_head(base.backbone(x)))
