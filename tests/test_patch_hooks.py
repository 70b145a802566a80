"""ExportPatchHook / ApplyPatchHook and patch_from_checkpoint: one recipe
(RSTHook.make_patch) for the patch written at the end of training, the one
tools/export_patch.py makes from a checkpoint, and the one --patch applies.
"""
import copy

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmvlpuda  # noqa: F401
from mmvlpuda.engine.hooks import ApplyPatchHook
from mmvlpuda.sparse import Patch, patch_from_checkpoint

# each test builds a Runner: restore mmengine's global scope/hub/loggers
pytestmark = pytest.mark.usefixtures('isolated_runner_state')


class ToyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(4, generator=g), label=i % 2)


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8))
        self.task_head = torch.nn.Linear(8, 2)

    def forward(self, inputs, label=None, mode='tensor'):
        x = self.task_head(self.backbone(torch.stack(inputs)))
        if mode == 'loss':
            y = torch.as_tensor(label)
            return dict(loss=torch.nn.functional.cross_entropy(x, y))
        return [x]


class KeepBase(Hook):

    def before_train(self, runner):
        self.model = copy.deepcopy(runner.model)


def _runner(tmp_path, hooks, name):
    loader = dict(
        dataset=ToyData(),
        batch_size=4,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='pseudo_collate'))
    return Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5)),
        train_cfg=dict(by_epoch=False, max_iters=3),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=3,
                            by_epoch=False)),
        custom_hooks=hooks,
        experiment_name=name)


def test_export_at_end_of_training_rebuilds_the_model(tmp_path):
    keep = KeepBase()
    runner = _runner(tmp_path, [
        dict(
            type='mmvlpuda.RSTHook',
            mode='budget',
            density=0.25,
            density_start=0.25,
            include=('backbone', )),
        dict(type='mmvlpuda.ExportPatchHook', filename='final.patch')
    ], 'export')
    runner.register_hook(keep)
    runner.train()
    patch = Patch.load(str(tmp_path / 'final.patch'))
    assert patch.meta['iter'] == 3 and patch.nnz > 0
    base = keep.model
    from mmvlpuda.sparse import apply_patch
    apply_patch(base, patch)
    for name, t in runner.model.state_dict().items():
        if 'num_batches_tracked' not in name:
            assert torch.equal(t, base.state_dict()[name]), name

    # the checkpoint gives the same patch (tools/export_patch.py's recipe)
    ckpt = torch.load(str(tmp_path / 'iter_3.pth'), weights_only=False)
    again = patch_from_checkpoint(ckpt)
    assert again.nnz == patch.nnz
    assert set(again.sparse) == set(patch.sparse)
    assert set(again.dense) == set(patch.dense)


def test_export_without_rst_hook_is_a_clear_error(tmp_path):
    runner = _runner(tmp_path, [dict(type='mmvlpuda.ExportPatchHook')],
                     'no-rst')
    with pytest.raises(ValueError, match='needs an RSTHook'):
        runner.train()


def test_apply_patch_hook_rejects_a_foreign_patch(tmp_path):
    other = torch.nn.Linear(3, 3)
    from mmvlpuda.sparse import make_patch
    base = {k: v.clone() for k, v in other.state_dict().items()}
    with torch.no_grad():
        other.weight[0, 0] += 1
    path = str(tmp_path / 'foreign.patch')
    make_patch(other, base).save(path)
    hook = ApplyPatchHook(path)

    class R:
        model = ToyModel()
        logger = None

    with pytest.raises(SystemExit, match='weight'):
        hook.before_test(R())
