"""Resume survives a damaged checkpoint (mmvlpuda/utils/resume.py and
``tools/train.py --resume``)."""
import glob
import os
import os.path as osp
import runpy
import sys

import pytest
import torch

from conftest import REPO_ROOT
from mmvlpuda.utils import (CheckpointError, check_checkpoint,
                            checkpoint_error, find_resumable_checkpoint)
from mmvlpuda.utils.resume import checkpoint_candidates

ZIP_ERROR = ('truncated, no zip directory at its end; torch: '
             'RuntimeError: PytorchStreamReader failed reading zip archive: '
             'failed finding central directory')


def _save(path, step):
    torch.save(
        {
            'state_dict': {
                'w': torch.full((256, 256), float(step))
            },
            'meta': {
                'iter': step
            }
        }, str(path))
    return str(path)


def _truncate(path):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def _work_dir(tmp_path, steps=(100, 200, 300), pointer=True):
    work = tmp_path / 'work'
    work.mkdir()
    for step in steps:
        _save(work / f'iter_{step}.pth', step)
    if pointer:
        (work / 'last_checkpoint').write_text(
            str(work / f'iter_{steps[-1]}'
                '.pth'))
    return work


def test_checkpoint_error_describes_each_damage(tmp_path):
    good = _save(tmp_path / 'good.pth', 1)
    assert checkpoint_error(good) is None
    bad = _save(tmp_path / 'bad.pth', 1)
    _truncate(bad)
    assert checkpoint_error(bad) == ZIP_ERROR
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert checkpoint_error(str(tmp_path / 'empty.pth')) == 'empty file'
    assert checkpoint_error(str(tmp_path / 'nope.pth')) == 'file not found'
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    assert checkpoint_error(str(tmp_path /
                                'text.pth')).startswith('UnpicklingError')


def test_candidates_newest_first(tmp_path):
    work = _work_dir(tmp_path, steps=(9, 100, 20))  # pointer: iter_20
    (work / 'best_acc_iter_100.pth').write_bytes(b'x')  # not resumed from
    (work / 'epoch_3.pth').write_bytes(b'x')
    names = [osp.basename(p) for p in checkpoint_candidates(str(work))]
    assert names == [
        'iter_20.pth', 'iter_100.pth', 'iter_9.pth', 'epoch_3.pth'
    ]
    assert checkpoint_candidates(str(tmp_path / 'missing')) == []


def test_moved_work_dir_uses_the_local_copy(tmp_path):
    work = _work_dir(tmp_path, steps=(1, 2), pointer=False)
    (work / 'last_checkpoint').write_text('/gone/elsewhere/iter_2.pth')
    assert checkpoint_candidates(str(work))[0] == str(work / 'iter_2.pth')


def test_newest_readable_is_used_and_the_damaged_one_named(tmp_path):
    work = _work_dir(tmp_path)
    lines = []
    assert find_resumable_checkpoint(
        str(work), log=lines.append) == str(work / 'iter_300.pth')
    assert lines == []  # nothing to say when the newest is fine

    _truncate(str(work / 'iter_300.pth'))
    got = find_resumable_checkpoint(str(work), log=lines.append)
    assert got == str(work / 'iter_200.pth')
    assert lines == [
        f'--resume: {work}/iter_300.pth cannot be read ({ZIP_ERROR}); '
        f'resuming from the newest readable checkpoint, {work}/iter_200.pth'
    ]


def test_nothing_readable_is_a_one_line_error(tmp_path):
    work = _work_dir(tmp_path, steps=(1, 2))
    for step in (1, 2):
        _truncate(str(work / f'iter_{step}.pth'))
    with pytest.raises(CheckpointError) as info:
        find_resumable_checkpoint(str(work), log=print)
    assert str(info.value) == (
        f'--resume: no readable checkpoint in {work}: {work}/iter_2.pth '
        f'cannot be read ({ZIP_ERROR}); {work}/iter_1.pth cannot be read '
        f'({ZIP_ERROR})')


def test_fresh_work_dir_starts_from_scratch(tmp_path):
    assert find_resumable_checkpoint(str(tmp_path / 'new')) is None
    assert find_resumable_checkpoint(str(tmp_path)) is None


def test_explicit_path_must_be_readable(tmp_path):
    path = _save(tmp_path / 'iter_5.pth', 5)
    assert check_checkpoint(path) == path
    _truncate(path)
    with pytest.raises(CheckpointError) as info:
        check_checkpoint(path)
    assert str(info.value) == (f'cannot resume from {path}: not a readable '
                               f'checkpoint ({ZIP_ERROR})')


# through tools/train.py (in-process: the demo config, 1-3 iterations) -------
DEMO = osp.join(REPO_ROOT, 'configs/demo/cmkd_tiny-clip_mnist2uci.py')


def _train(work, max_iters, *resume):
    argv = [
        'tools/train.py', DEMO, '--work-dir',
        str(work), '--no-validate', *resume, '--cfg-options',
        f'train_cfg.max_iters={max_iters}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1'
    ]
    old = sys.argv
    sys.argv = argv
    try:
        runpy.run_path(
            osp.join(REPO_ROOT, 'tools/train.py'), run_name='__main__')
    finally:
        sys.argv = old
    return open(sorted(glob.glob(str(work / '*' / '*.log')))[-1]).read()


def test_train_resume_skips_a_truncated_newest_checkpoint(
        tmp_path, isolated_runner_state):
    work = tmp_path / 'work'
    _train(work, 2)
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == [
        'iter_1.pth', 'iter_2.pth'
    ]  # max_keep_ckpts=2: an older one is there to fall back to
    newest = str(work / 'iter_2.pth')
    _truncate(newest)  # killed while saving

    log = _train(work, 3, '--resume')
    assert (f'--resume: {newest} cannot be read ({ZIP_ERROR}); resuming '
            f'from the newest readable checkpoint, {work}/iter_1.pth') in log
    assert 'resumed' in log.lower()
    # iteration 2 is trained again, then 3
    assert 'Iter(train) [2/3]' in log and 'Iter(train) [1/3]' not in log
    assert checkpoint_error(str(work / 'iter_3.pth')) is None

    # --resume PATH on the damaged file: a one-line error before anything
    _truncate(str(work / 'iter_3.pth'))
    with pytest.raises(SystemExit) as info:
        _train(work, 4, '--resume', str(work / 'iter_3.pth'))
    assert str(info.value) == (
        f'cannot resume from {work}/iter_3.pth: not a readable checkpoint '
        f'({ZIP_ERROR})')
