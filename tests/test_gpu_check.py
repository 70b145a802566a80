"""benchmarks/gpu_check.py, by its pieces (the whole CPU dry run,
``bash benchmarks/gpu_check.sh --device cpu --quick``, takes minutes): the
plan's training commands load, the data trees, the RST benchmark step end
to end, the table."""
import argparse
import importlib.util
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from seg_data import cli_options

BENCH = osp.join(REPO_ROOT, 'benchmarks')


def _module(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(BENCH, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def gpu_check():
    return _module('gpu_check')


@pytest.mark.parametrize('quick', [False, True], ids=['real', 'quick'])
def test_every_training_of_the_plan_has_a_valid_config(gpu_check, quick,
                                                       tmp_path):
    from mmvlpuda.utils import load_config
    args = ['--device', 'cpu', '--out',
            str(tmp_path)] + (['--quick'] if quick else [])
    ns = argparse.Namespace(
        device='cpu', quick=quick, out=str(tmp_path), only=None, amp=False)
    steps = gpu_check.plan(ns)
    assert [s.name for s in steps] == list(gpu_check.STEPS)
    for step in steps:
        if step.name not in gpu_check.TRAININGS:
            continue
        cfg = load_config(
            osp.join(REPO_ROOT, gpu_check.CONFIGS[step.name]), step.options)
        assert cfg.train_cfg.max_iters == (2 if quick else
                                           step.options['train_cfg.max_iters'])
        assert step.cmd[step.cmd.index('--cfg-options') + 1:] == \
            cli_options(step.options)
    assert gpu_check.main(args + ['--list']) == 0


def test_quick_data_trees_have_the_real_layouts(tmp_path):
    res = subprocess.run([
        sys.executable,
        osp.join(BENCH, 'gpu_check_data.py'),
        str(tmp_path), '--quick'
    ],
                         capture_output=True,
                         text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(list((tmp_path / 'office_home' / 'Art').iterdir())) == 65
    assert list((tmp_path / 'cityscapes' / 'leftImg8bit' /
                 'train').glob('*/*_leftImg8bit.png'))
    assert list((tmp_path / 'gta' / 'labels').glob('*_labelTrainIds.png'))
    assert list((tmp_path / 'acdc' / 'rgb_anon').glob('*/train/*/*.png'))


def test_quick_rst_step_runs_and_lands_in_the_table(tmp_path):
    res = subprocess.run([
        sys.executable,
        osp.join(BENCH, 'gpu_check.py'), '--device', 'cpu', '--quick',
        '--only', 'rst_step', '--out',
        str(tmp_path)
    ],
                         cwd=REPO_ROOT,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    table = (tmp_path / 'summary.md').read_text()
    assert 'rst_step (mmvlpuda-tiny-rn' in table and 'copy_' in table
    assert 'identical=True' in table


MMENGINE_LOG = '''\
11/30 05:00:01 - mmengine - INFO - Iter(train) [ 1/20]  lr: 1e-04  eta: 0:01:00  time: 2.5000  data_time: 0.1  memory: 9000  loss: 3.2  rst_density: 1.0
11/30 05:00:02 - mmengine - INFO - Iter(train) [ 2/20]  lr: 1e-04  eta: 0:01:00  time: 0.5000  data_time: 0.1  memory: 9100  loss: 3.1  rst_density: 0.5
11/30 05:00:03 - mmengine - INFO - Iter(train) [ 3/20]  lr: 1e-04  eta: 0:01:00  time: 0.7000  data_time: 0.1  memory: 9050  loss: 3.0  rst_density: 0.25
'''  # noqa: E501


def test_training_log_figures():
    figs = _module('gpu_check_summary').parse_training_log(
        MMENGINE_LOG + 'RuntimeError: boom\n')
    assert figs == dict(
        iters=3,
        ms_iter=600.,
        peak_mb=9100.,
        loss=3.0,
        rst_density=0.25,
        error='RuntimeError: boom')


def test_table_reports_failures_and_skips(tmp_path):
    summary = _module('gpu_check_summary')
    log = tmp_path / 'seg.log'
    log.write_text(MMENGINE_LOG + 'mmvlpuda.utils.compat.'
                   'MissingCompiledOpError: mmcv compiled op\n')
    table = summary.summarize(
        str(tmp_path), [
            dict(step='seg_m2f_cmkd_rst', rc=1, wall_s=9., log=str(log)),
            dict(step='cls_rst_vitb16', rc='skip', wall_s=0)
        ])
    assert '| seg_m2f_cmkd_rst | 600 | 9100 | rc=1' in table
    assert 'MissingCompiledOpError' in table
    assert '| cls_rst_vitb16 | - | - | skipped (budget) |' in table
    assert (tmp_path / 'summary.md').read_text().endswith(table + '\n')
