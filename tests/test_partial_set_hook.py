"""Partial-set DA (paper App. K): label-set estimation, its persistence
across --resume, the class-subset target datasets and the PDA configs."""
import glob
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from PIL import Image

from conftest import REPO_ROOT
from mmvlpuda.datasets import ClassSubsetDataset
from mmvlpuda.engine.hooks import PartialSetHook
from mmvlpuda.engine.hooks.partial_set_hook import (count_predictions,
                                                    select_label_set)
from mmvlpuda.models import CMKDClassifier
from mmvlpuda.registry import DATASETS, HOOKS
from mmvlpuda.utils import load_config

PDA_CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs/pda/*.py')))
PDA_RN50 = osp.join(REPO_ROOT, 'configs/pda/officehome_rn50.py')

# ------------------------------------------------------------ pure functions


def test_count_and_select_from_a_known_histogram():
    preds = [0] * 14 + [1] * 13 + [3] * 20 + [4]
    counts = count_predictions(preds, num_classes=6)
    assert counts == [14, 13, 0, 20, 1, 0]
    # >= threshold: exactly 14 is kept, 13 is not
    assert select_label_set(counts, 14) == [0, 3]
    assert select_label_set(counts, 1) == [0, 1, 3, 4]
    assert count_predictions([], 3) == [0, 0, 0]
    # any number of classes
    assert len(count_predictions([344], 345)) == 345


# --------------------------------------------------- hook with a fake runner


class _Model(nn.Module):
    """The label-set state of :class:`CMKDClassifier` (its own code) on a
    model without a backbone."""
    label_set = CMKDClassifier.label_set
    _read_class_mask = CMKDClassifier._read_class_mask

    def __init__(self, num_classes=5, partial_set=True):
        super().__init__()
        self.task_head = SimpleNamespace(num_classes=num_classes)
        self.partial_set = dict(cls_weight=0.5, transfer_weight=0.1) \
            if partial_set else None
        self.predict_head = 'task'
        self._label_set = None
        if partial_set:
            self.register_buffer('class_mask',
                                 torch.ones(num_classes, dtype=torch.bool))
            self.register_load_state_dict_post_hook(
                lambda module, keys: module._read_class_mask())


def _runner(model, it=0):
    return SimpleNamespace(
        model=model,
        train_loop=None,
        val_loop=None,
        iter=it,
        epoch=0,
        message_hub=MessageHub.get_instance('pda-test'))


def _outputs(preds, start=0, num_classes=5):
    outs = []
    for i, p in enumerate(preds):
        score = torch.full((num_classes, ), 0.1)
        score[p] = 0.6
        ds = DataSample().set_pred_label(p).set_pred_score(score)
        ds.set_metainfo(dict(sample_idx=start + i))
        outs.append(ds)
    return outs


def _val_epoch(hook, runner, preds, batch=4):
    hook.before_val_epoch(runner)
    for b in range(0, len(preds), batch):
        hook.after_val_iter(runner, b, None,
                            _outputs(preds[b:b + batch], start=b))
    hook.after_val_epoch(runner, {})


def test_first_round_keeps_all_classes_then_updates():
    model = _Model()
    runner = _runner(model)
    hook = HOOKS.build(dict(type='PartialSetHook', threshold=3))
    hook.before_train(runner)
    assert model.label_set is None  # all classes until the first update

    _val_epoch(hook, runner, [0, 0, 0, 2, 2, 2, 2, 4, 4, 1])
    assert hook.counts == [3, 1, 4, 0, 2]
    assert model.label_set == [0, 2]
    assert model.class_mask.tolist() == [True, False, True, False, False]
    assert runner.message_hub.get_scalar('val/pda_num_classes').current() == 2

    # the next evaluation replaces the set (not cumulative)
    _val_epoch(hook, runner, [4] * 5 + [1] * 3 + [0] * 2)
    assert model.label_set == [1, 4]


def test_duplicates_from_padding_count_once_and_empty_set_is_ignored():
    model = _Model()
    runner = _runner(model)
    hook = PartialSetHook(threshold=2)
    hook.before_train(runner)
    hook.before_val_epoch(runner)
    outs = _outputs([3, 3, 1])
    # a distributed sampler pads with repeated samples
    hook.after_val_iter(runner, 0, None, outs + _outputs([1], start=2))
    hook.after_val_epoch(runner)
    assert hook.counts[1] == 1 and model.label_set == [3]

    _val_epoch(hook, runner, [0, 1, 2, 3, 4])  # nothing reaches 2
    assert model.label_set == [3]


def test_needs_a_partial_set_model():
    with pytest.raises(ValueError, match='model.partial_set'):
        PartialSetHook().before_train(_runner(_Model(partial_set=False)))
    with pytest.raises(ValueError, match='threshold'):
        PartialSetHook(threshold=0)


def test_checkpoint_round_trip():
    """The label set travels with the weights (model state); the hook's
    own entry holds only its bookkeeping."""
    model = _Model()
    runner = _runner(model, it=7)
    hook = PartialSetHook(threshold=2)
    hook.before_train(runner)
    _val_epoch(hook, runner, [1, 1, 4, 4, 4, 0])
    ckpt = dict(state_dict=model.state_dict())
    hook.before_save_checkpoint(runner, ckpt)
    assert 'label_set' not in ckpt['partial_set']
    assert ckpt['partial_set']['updated_at']['iter'] == 7

    new_model = _Model()
    new_hook = PartialSetHook(threshold=2)
    new_hook.after_load_checkpoint(_runner(new_model), ckpt)
    new_model.load_state_dict(ckpt['state_dict'])  # what mmengine does next
    assert new_model.label_set == [1, 4]
    assert new_hook.updated_at == dict(iter=7, epoch=0)
    new_hook.before_train(_runner(new_model, it=7))
    assert new_model.label_set == [1, 4]

    # a checkpoint from before the first update keeps all classes
    other = _Model()
    other.load_state_dict(_Model().state_dict())
    assert other.label_set is None


@pytest.mark.parametrize('saved', [[1, 4], None])
def test_old_checkpoint_layout_still_loads(saved):
    """Checkpoints of earlier versions kept the label set under
    ``checkpoint['partial_set']`` and had no ``class_mask`` weight."""
    ckpt = dict(
        state_dict={},
        partial_set=dict(
            label_set=saved,
            counts=[0, 3, 0, 0, 3],
            num_classes=5,
            threshold=2,
            updated_at=dict(iter=7, epoch=0)))
    model = _Model()
    PartialSetHook(threshold=2).after_load_checkpoint(_runner(model), ckpt)
    model.load_state_dict(ckpt['state_dict'])
    assert model.label_set == saved


def test_label_set_needs_a_class():
    with pytest.raises(ValueError, match='at least one class'):
        _Model().label_set = []


# ------------------------------------------------------- ClassSubsetDataset


@pytest.fixture(scope='module')
def office_home_tree(tmp_path_factory):
    """Office-Home shaped tree: 65 classes x 2 images, Art and Clipart."""
    root = tmp_path_factory.mktemp('oh_pda')
    classes = load_config(PDA_RN50).classes
    rng = np.random.default_rng(0)
    for domain in ('Art', 'Clipart'):
        for name in classes:
            (root / domain / name).mkdir(parents=True)
            for k in range(2):
                Image.fromarray(
                    rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(
                        root / domain / name / f'{k}.jpg')
    return str(root)


def test_class_subset_keeps_full_label_space(office_home_tree):
    cfg = load_config(PDA_RN50, {'data_root': office_home_tree})
    assert cfg.partial_classes == sorted(cfg.classes)[:25]
    target = DATASETS.build(cfg.train_dataloader.dataset.target)
    assert isinstance(target, ClassSubsetDataset)
    assert len(target) == 25 * 2
    assert list(target.metainfo['classes']) == cfg.classes
    assert target.kept_labels == list(range(25))
    labels = [
        int(target[i]['data_samples'].gt_label) for i in range(len(target))
    ]
    assert sorted(set(labels)) == list(range(25))
    assert target.get_data_info(49)['gt_label'] == 24
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(val) == 50 and len(val.metainfo['classes']) == 65
    # the source keeps all 65 classes
    source = DATASETS.build(cfg.train_dataloader.dataset.source)
    assert len(source) == 65 * 2


def test_class_subset_by_index_and_errors(office_home_tree):
    base = dict(
        type='DomainFolderDataset',
        data_root=office_home_tree,
        domain='Art',
        classes=load_config(PDA_RN50).classes)
    ds = ClassSubsetDataset(base, classes=[64, 'Alarm_Clock'])
    assert ds.kept_labels == [0, 64] and len(ds) == 4
    assert ds.kept_classes == ['Alarm_Clock', 'Webcam']
    with pytest.raises(ValueError, match='Nope'):
        ClassSubsetDataset(base, classes=['Nope'])
    with pytest.raises(ValueError, match='out of range'):
        ClassSubsetDataset(base, classes=[65])


# ------------------------------------------------------ real Runner + resume

SMALL_TRAIN = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(36, 36), keep_ratio=False),
    dict(type='mmpretrain.RandomCrop', crop_size=32),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.PackInputs'),
]
SMALL_STRONG = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(36, 36), keep_ratio=False),
    dict(type='CenterCrop', crop_size=32),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='mmpretrain.ColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4),
    dict(type='TimmRandAugment'),
    dict(type='mmpretrain.PackInputs'),
]
SMALL_TEST = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='mmpretrain.PackInputs'),
]


def _tiny_cfg(config, data_root, work_dir, name, **extra):
    """Tiny model on 32 px images (the full-size pipelines of the FixMatch
    strong view run through a Runner in tests/test_configs.py)."""
    arch = 'mmvlpuda-tiny-vit' if 'vit' in config else 'mmvlpuda-tiny-rn'
    opts = {
        'data_root': data_root,
        'work_dir': work_dir,
        'model.backbone.arch': arch,
        'model.backbone.pretrained': None,
        'model.backbone.image_size': 32,
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'train_dataloader.batch_size': 4,
        'val_dataloader.batch_size': 64,
        'default_hooks.logger.interval': 1,
        'log_level': 'WARNING',
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.num_workers'] = 0
        opts[f'{loader}.persistent_workers'] = False
    opts.update(extra)
    cfg = load_config(config, opts)
    data = cfg.train_dataloader.dataset
    data.source.pipeline = SMALL_TRAIN
    data.target.dataset.pipeline = SMALL_TRAIN
    if data.get('target_strong'):
        data.target_strong = SMALL_STRONG
    cfg.val_dataloader.dataset.dataset.pipeline = SMALL_TEST
    cfg.test_dataloader = cfg.val_dataloader
    cfg.experiment_name = name
    return cfg


class _Probe(Hook):
    """Records ``model.label_set`` (runs after PartialSetHook)."""

    def __init__(self):
        self.before_train_set = 'unset'
        self.per_iter = []
        self.val_sets = []

    def before_train(self, runner):
        self.before_train_set = runner.model.label_set

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.per_iter.append(runner.model.label_set)

    def after_val_epoch(self, runner, metrics=None):
        self.val_sets.append(runner.model.label_set)


def _run(cfg):
    runner = Runner.from_cfg(cfg)
    probe = _Probe()
    runner.register_hook(probe, priority='LOWEST')
    runner.train()
    return runner, probe


def test_label_set_updates_and_survives_resume(office_home_tree, tmp_path):
    work = str(tmp_path / 'run')
    extra = {
        'train_cfg.max_iters': 4,
        'default_hooks.checkpoint.interval': 3,  # iter_3 and (last) iter_4
        'custom_hooks': [dict(type='PartialSetHook', threshold=1)],
    }
    runner, probe = _run(
        _tiny_cfg(PDA_RN50, office_home_tree, work, 'pda-resume-1', **extra))
    set_2, set_4 = probe.val_sets
    # first round: all classes; then the predicted classes (50 target
    # images cannot cover 65 classes)
    assert probe.before_train_set is None
    assert probe.per_iter == [None, None, set_2, set_2]
    assert set_2 and len(set_2) < 65 and set_4 == runner.model.label_set
    assert set_4 == sorted(set_4) and all(0 <= c < 65 for c in set_4)

    # checkpoints carry the label set (the model's class_mask); mmengine
    # writes iter_4 *before* the validation of iteration 4
    ckpt3 = torch.load(osp.join(work, 'iter_3.pth'), weights_only=False)
    ckpt4 = torch.load(osp.join(work, 'iter_4.pth'), weights_only=False)
    for ckpt in (ckpt3, ckpt4):
        kept = ckpt['state_dict']['class_mask'].nonzero().view(-1).tolist()
        assert kept == set_2
    assert ckpt4['partial_set']['updated_at']['iter'] == 2

    # resume from iter 3 (no validation due there): restored as saved
    cfg = _tiny_cfg(PDA_RN50, office_home_tree, str(tmp_path / 'r3'),
                    'pda-resume-2', **extra)
    cfg.resume, cfg.load_from = True, osp.join(work, 'iter_3.pth')
    runner3, probe3 = _run(cfg)
    assert runner3.iter == 4
    assert probe3.before_train_set == set_2
    assert probe3.per_iter == [set_2]

    # resume from iter 4 (saved before its validation): the label set of
    # that validation is recomputed from the restored weights, identical to
    # the uninterrupted run
    cfg = _tiny_cfg(PDA_RN50, office_home_tree, str(tmp_path / 'r4'),
                    'pda-resume-3', **extra)
    cfg.resume, cfg.load_from = True, osp.join(work, 'iter_4.pth')
    _, probe4 = _run(cfg)
    assert probe4.before_train_set == set_4
    assert probe4.per_iter == []


@pytest.mark.parametrize('config', PDA_CONFIGS, ids=lambda c: osp.basename(c))
def test_pda_config_trains_two_iterations(config, office_home_tree, tmp_path):
    cfg = _tiny_cfg(config, office_home_tree, str(tmp_path),
                    f'pda-cfg-{osp.basename(config)}')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert any(isinstance(h, PartialSetHook) for h in runner.hooks)
    assert runner.model.partial_set == dict(
        cls_weight=0.5, transfer_weight=0.1)
    assert (runner.model.fixmatch_loss is not None) == ('fixmatch' in config)
    assert len(runner.val_dataloader.dataset) == 50
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))
    # the evaluation at iteration 2 counted the 50 target predictions
    hook = next(h for h in runner.hooks if isinstance(h, PartialSetHook))
    assert hook.threshold == 14 and sum(hook.counts) == 50
    kept = [c for c, n in enumerate(hook.counts) if n >= 14]
    assert runner.model.label_set == (kept or None)
