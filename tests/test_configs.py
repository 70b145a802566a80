"""Every shipped classification config builds and trains 2 iterations (+
evaluation) with a tiny open_clip model on generated data."""
import glob
import os.path as osp

import numpy as np
import pytest
from mmengine.runner import Runner
from PIL import Image

from conftest import REPO_ROOT
from mmvlpuda.utils import load_config

CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs/cmkd/*.py')) +
    glob.glob(osp.join(REPO_ROOT, 'configs/rst/*.py')))


@pytest.fixture(scope='module')
def office_home_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp('oh')
    classes = load_config(CONFIGS[0]).classes
    rng = np.random.default_rng(0)
    for domain in ('Art', 'Clipart'):
        for name in classes:
            (root / domain / name).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 255, (32, 32, 3),
                                         dtype=np.uint8)).save(
                                             root / domain / name / '0.jpg')
    return str(root)


def _tiny_options(config, data_root, work_dir):
    arch = 'mmvlpuda-tiny-vit' if 'vit' in config else 'mmvlpuda-tiny-rn'
    opts = {
        'data_root': data_root,
        'work_dir': work_dir,
        'model.backbone.arch': arch,
        'model.backbone.pretrained': None,
        'model.backbone.image_size': 224,
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'train_dataloader.batch_size': 4,
        'default_hooks.logger.interval': 1,
        'log_level': 'WARNING',
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.num_workers'] = 0
        opts[f'{loader}.persistent_workers'] = False
    return opts


@pytest.mark.parametrize('config', CONFIGS, ids=lambda c: osp.relpath(
    c, osp.join(REPO_ROOT, 'configs')))
def test_config_trains_two_iterations(config, office_home_tree, tmp_path):
    cfg = load_config(config,
                      _tiny_options(config, office_home_tree, str(tmp_path)))
    cfg.experiment_name = f'cfgtest-{osp.basename(config)}-{id(tmp_path)}'
    assert cfg.model.text_head.classnames == cfg.classes
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 0. <= metrics['accuracy/top1'] <= 100.
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))
    if 'rst' in config:
        assert any(type(h).__name__ == 'RSTHook' for h in runner.hooks)
