"""End to end through the user-facing scripts on a generated Office-Home
shaped tree (65 classes) with a tiny randomly initialised open_clip model."""
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from conftest import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'configs/cmkd/officehome_rn50.py')


@pytest.fixture(scope='module')
def office_home_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp('office_home')
    classes = Config.fromfile(CONFIG).classes
    assert len(classes) == 65
    rng = np.random.default_rng(0)
    for domain in ('Art', 'Clipart'):
        for name in classes:
            folder = root / domain / name
            folder.mkdir(parents=True)
            for k in range(2):
                img = rng.integers(0, 255, (36, 44, 3), dtype=np.uint8)
                Image.fromarray(img).save(folder / f'{k}.jpg')
    return str(root)


def _options(data_root, max_iters=4):
    return [
        f'data_root={data_root}', 'model.backbone.arch=mmvlpuda-tiny-rn',
        'model.backbone.pretrained=None', 'model.backbone.image_size=224',
        f'train_cfg.max_iters={max_iters}', 'train_cfg.val_interval=4',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1'
    ]


def _run(args, **env):
    full_env = dict(
        os.environ, HF_HUB_OFFLINE='1', PYTHON=sys.executable, **env)
    res = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=full_env,
        timeout=900,
        capture_output=True,
        text=True)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    return out


def _accuracy(log: str) -> float:
    found = re.findall(r'accuracy/top1: ([0-9.]+)', log)
    assert found, log[-2000:]
    return float(found[-1])


def test_train_resume_and_test(office_home_tree, tmp_path):
    work = str(tmp_path / 'work')
    train = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', work]
    log = _run(train + ['--cfg-options'] + _options(office_home_tree))
    assert 'loss_task' in log and 'alpha' in log
    assert 0. <= _accuracy(log) <= 100.
    ckpt = osp.join(work, 'iter_4.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert state['meta']['iter'] == 4
    assert all(
        k.startswith(('backbone.visual.', 'task_head.'))
        for k in state['state_dict'])  # no text tower saved

    # --resume continues from iter 4 (mmengine 0.10.7 + torch>=2.6 fix)
    log = _run(train + ['--resume', '--cfg-options'] +
               _options(office_home_tree, max_iters=6))
    assert f'Resuming from {ckpt}' in log or 'resumed' in log.lower(), log
    assert 'Iter(train) [5/6]' in log and 'Iter(train) [1/6]' not in log
    assert osp.isfile(osp.join(work, 'iter_6.pth'))

    log = _run([
        sys.executable, 'tools/test.py', CONFIG, ckpt, '--work-dir', work,
        '--cfg-options'
    ] + _options(office_home_tree))
    assert 0. <= _accuracy(log) <= 100.


def test_zero_shot_test_without_checkpoint(office_home_tree, tmp_path):
    log = _run([
        sys.executable, 'tools/test.py', CONFIG, '--work-dir',
        str(tmp_path), '--cfg-options', 'model.predict_head=text'
    ] + _options(office_home_tree))
    assert 0. <= _accuracy(log) <= 100.


def test_dist_train_two_processes_on_cpu(office_home_tree, tmp_path):
    work = str(tmp_path / 'dist')
    log = _run(
        [
            'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work,
            '--cfg-options'
        ] + _options(office_home_tree),
        PORT=str(29500 + os.getpid() % 1000),
        CUDA_VISIBLE_DEVICES='')  # the CPU path even on a GPU box
    assert 'gloo' in log
    assert 'Iter(train) [4/4]' in log
    assert osp.isfile(osp.join(work, 'iter_4.pth'))


def _train_fails(tmp_path, options) -> str:
    """tools/train.py with ``options`` must fail; returns its stderr."""
    args = [
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(tmp_path), '--cfg-options'
    ] + options
    res = subprocess.run(
        args,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, HF_HUB_OFFLINE='1'),
        timeout=600)
    assert res.returncode != 0
    return res.stderr


def test_missing_data_root_is_a_one_line_error(tmp_path):
    err = _train_fails(tmp_path, _options(str(tmp_path / 'no')))
    assert f'data root not found: {tmp_path / "no"}' in err


def test_undefined_config_reference_is_a_one_line_error(tmp_path):
    """A `${key}` naming no key stops before anything runs, naming it."""
    err = _train_fails(tmp_path, ['data_root=${no_such_root}'])
    last = err.strip().splitlines()[-1]
    assert "'${no_such_root}'" in last and 'is not defined' in last, last
    assert 'Traceback' not in err


def test_rst_train_export_patch_and_test_from_patch(office_home_tree,
                                                    tmp_path):
    config = osp.join(REPO_ROOT, 'configs/rst/officehome_rn50.py')
    work = str(tmp_path / 'rst')
    opts = _options(office_home_tree) + [
        'optim_wrapper.optimizer.lr=1e-4', 'custom_hooks.0.tau=1e-5',
        'optim_wrapper.paramwise_cfg.custom_keys.task_head.lr_mult=10'
    ]
    log = _run([
        sys.executable, 'tools/train.py', config, '--work-dir', work,
        '--cfg-options'
    ] + opts)
    assert 'dsp: ' in log and 'RSTHook' in log
    ckpt = osp.join(work, 'iter_4.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert state['meta']['rst']['nnz'] > 0
    assert all(
        torch.isfinite(v).all() for v in state['state_dict'].values()
        if v.is_floating_point())

    patch_file = str(tmp_path / 'art2clipart.patch')
    out = _run([
        sys.executable, 'tools/export_patch.py', ckpt, 'from-ckpt', patch_file
    ])
    assert 'residual nonzeros' in out and osp.isfile(patch_file)
    # the patch is far smaller than the dense checkpoint
    assert osp.getsize(patch_file) < osp.getsize(ckpt) / 4

    acc_ckpt = _accuracy(
        _run([
            sys.executable, 'tools/test.py', config, ckpt, '--work-dir', work,
            '--cfg-options'
        ] + opts))
    acc_patch = _accuracy(
        _run([
            sys.executable, 'tools/test.py', config, '--patch', patch_file,
            '--work-dir', work, '--cfg-options'
        ] + opts))
    assert acc_patch == acc_ckpt

    # a patch for another base is refused with a one-line error
    res = subprocess.run(
        [
            sys.executable, 'tools/test.py', config, '--patch', patch_file,
            '--work-dir', work, '--cfg-options'
        ] + opts + ['randomness.seed=7'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, HF_HUB_OFFLINE='1'))
    assert res.returncode != 0
    assert 'not the base this patch was made for' in res.stderr
