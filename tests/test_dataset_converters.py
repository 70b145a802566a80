"""GTA5 label conversion and Rare Class Sampling statistics (functions and
``tools/dataset_converters/{gta,rcs_stats}.py``)."""
import json
import os
import os.path as osp
import runpy
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT
from mmvlpuda.datasets.seg import (GTA_ID_TO_TRAINID, compute_class_stats,
                                   convert_gta_labels, group_samples_by_class,
                                   load_class_stats, write_rcs_stats)
from mmvlpuda.datasets.seg.gta import CITYSCAPES_ID_TO_TRAIN_ID
from seg_data import (COMMON_CLASSES, GTA_NUM, IGNORE_ROWS, RARE_BLOCK,
                      RARE_CLASSES, H, W, make_label)

TOOLS = osp.join(REPO_ROOT, 'tools', 'dataset_converters')


def write_raw(path, ids, palette):
    os.makedirs(osp.dirname(path), exist_ok=True)
    image = Image.fromarray(np.asarray(ids, dtype=np.uint8))
    if palette:
        image.putpalette([v for i in range(256) for v in (i, i, 255 - i)])
    image.save(path)
    return path


def read(path):
    with Image.open(path) as image:
        return image.mode, np.asarray(image)


def run_tool(name, *args):
    """Run a tool in this process (fast)."""
    argv = sys.argv
    sys.argv = [name, *map(str, args)]
    try:
        runpy.run_path(osp.join(TOOLS, name), run_name='__main__')
    finally:
        sys.argv = argv


# -------------------------------------------------------------- GTA ids
def test_id_to_train_id_lut():
    lut = GTA_ID_TO_TRAINID
    assert lut.dtype == np.uint8 and lut.shape == (256, )
    np.testing.assert_array_equal(lut[[7, 8, 26, 0]], [0, 1, 13, 255])
    assert sorted(CITYSCAPES_ID_TO_TRAIN_ID.values()) == list(range(19))
    mapped = {i: int(lut[i]) for i in range(256) if lut[i] != 255}
    assert mapped == CITYSCAPES_ID_TO_TRAIN_ID


@pytest.mark.parametrize('palette', [True, False])
def test_convert_gta_labels_and_idempotence(tmp_path, palette):
    ids = np.array([[7, 8, 26, 0], [33, 24, 1, 255]], dtype=np.uint8)
    src = write_raw(str(tmp_path / 'labels' / '00001.png'), ids, palette)
    assert read(src)[0] == ('P' if palette else 'L')
    out = convert_gta_labels(str(tmp_path))
    dst = str(tmp_path / 'labels' / '00001_labelTrainIds.png')
    assert out == [dst]
    mode, train_ids = read(dst)
    assert mode == 'L' and train_ids.dtype == np.uint8
    np.testing.assert_array_equal(train_ids,
                                  [[0, 1, 13, 255], [18, 11, 255, 255]])
    with open(dst, 'rb') as f:
        first = f.read()
    assert convert_gta_labels(str(tmp_path)) == [dst]  # again: same file
    with open(dst, 'rb') as f:
        assert f.read() == first
    assert sorted(os.listdir(
        tmp_path / 'labels')) == ['00001.png', '00001_labelTrainIds.png']


def test_convert_gta_labels_errors(tmp_path):
    with pytest.raises(ValueError) as e:
        convert_gta_labels(str(tmp_path))
    assert str(tmp_path / 'labels') in str(e.value)
    rgb = tmp_path / 'labels' / '00002.png'
    rgb.parent.mkdir()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(rgb)
    with pytest.raises(ValueError) as e:
        convert_gta_labels(str(tmp_path))
    assert str(rgb) in str(e.value) and '\n' not in str(e.value)
    assert os.listdir(rgb.parent) == ['00002.png']  # nothing half-written


def test_seg_trees_gta_matches_generator(seg_trees):
    labels = osp.join(seg_trees['gta'], 'labels')
    names = sorted(os.listdir(labels))
    assert len(names) == 2 * GTA_NUM
    assert not any(n.startswith('.tmp') for n in names)
    _, raw = read(osp.join(labels, f'{GTA_NUM:05d}.png'))
    _, train_ids = read(osp.join(labels, f'{GTA_NUM:05d}_labelTrainIds.png'))
    expected = make_label(RARE_CLASSES)
    expected[0, :4] = 255
    np.testing.assert_array_equal(train_ids, expected)
    np.testing.assert_array_equal(GTA_ID_TO_TRAINID[raw], expected)


# ------------------------------------------------------------ RCS stats
def expected_counts(rare):
    label = make_label(rare)
    return {
        c: int((label == c).sum())
        for c in range(19) if (label == c).any()
    }


def test_compute_class_stats(tmp_path):
    paths = []
    for i, rare in enumerate([(), (17, 18)]):
        path = str(tmp_path / 'labels' / f'{i}_labelTrainIds.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(make_label(rare)).save(path)
        paths.append(path)
    stats = compute_class_stats(paths, str(tmp_path))
    assert [s['file'] for s in stats
            ] == ['labels/0_labelTrainIds.png', 'labels/1_labelTrainIds.png']
    assert {int(k): v for k, v in stats[1].items() if k != 'file'} == \
        expected_counts((17, 18))
    assert stats[1]['17'] == RARE_BLOCK**2
    assert '255' not in stats[0] and '17' not in stats[0]
    total = sum(v for k, v in stats[0].items() if k != 'file')
    assert total == (H - IGNORE_ROWS) * W
    samples = group_samples_by_class(stats)
    assert samples['17'] == [['labels/1_labelTrainIds.png', 64]]
    assert len(samples['0']) == 2
    assert compute_class_stats(paths, str(tmp_path), nproc=2) == stats


def test_seg_trees_stats_files(seg_trees):
    root = seg_trees['gta']
    with open(osp.join(root, 'sample_class_stats.json')) as f:
        stats = json.load(f)
    with open(osp.join(root, 'samples_with_class.json')) as f:
        samples = json.load(f)
    assert [s['file'] for s in stats] == [
        f'labels/{i:05d}_labelTrainIds.png' for i in range(1, GTA_NUM + 1)
    ]
    rare_file = f'labels/{GTA_NUM:05d}_labelTrainIds.png'
    for c in RARE_CLASSES:
        assert samples[str(c)] == [[rare_file, RARE_BLOCK**2]]
    for c in COMMON_CLASSES:
        assert len(samples[str(c)]) == GTA_NUM
    assert sorted(samples, key=int) == [str(c) for c in range(19)]
    assert load_class_stats(root) == (stats, samples)
    with open(osp.join(seg_trees['cityscapes'],
                       'sample_class_stats.json')) as f:
        city = json.load(f)
    assert len(city) == 4 and city[0]['file'].startswith('gtFine/train/')


def test_load_class_stats_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_class_stats(str(tmp_path))
    msg = str(e.value)
    assert 'tools/dataset_converters/rcs_stats.py' in msg and '\n' not in msg
    (tmp_path / 'sample_class_stats.json').write_text('[{"0": 1,')
    with pytest.raises(ValueError, match='invalid JSON'):
        load_class_stats(str(tmp_path))
    # samples_with_class.json is derived when absent
    (tmp_path /
     'sample_class_stats.json').write_text('[{"3": 5, "file": "a.png"}]')
    assert load_class_stats(str(tmp_path))[1] == {'3': [['a.png', 5]]}


def test_write_rcs_stats_out_dir_and_errors(seg_trees, tmp_path):
    paths = write_rcs_stats(
        seg_trees['cityscapes'],
        'gtFine/val',
        '_gtFine_labelTrainIds.png',
        out_dir=tmp_path)
    assert paths == (str(tmp_path / 'sample_class_stats.json'),
                     str(tmp_path / 'samples_with_class.json'))
    with pytest.raises(ValueError) as e:
        write_rcs_stats(seg_trees['gta'], 'labels', '_nothing.png')
    assert "'_nothing.png'" in str(e.value)


# ---------------------------------------------------------------- tools
def test_rcs_stats_tool_on_cityscapes(seg_trees, capsys):
    root = seg_trees['cityscapes']
    os.remove(osp.join(root, 'sample_class_stats.json'))
    os.remove(osp.join(root, 'samples_with_class.json'))
    run_tool('rcs_stats.py', root, '--label-dir', 'gtFine/train', '--suffix',
             '_gtFine_labelTrainIds.png', '--num-classes', 19)
    assert 'sample_class_stats.json' in capsys.readouterr().out
    stats, samples = load_class_stats(root)
    assert len(stats) == 4
    assert all(s['file'].endswith('_gtFine_labelTrainIds.png') for s in stats)
    assert set(samples) == {str(c) for c in range(19)}


def test_rcs_stats_tool_error_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as e:
        run_tool('rcs_stats.py', tmp_path, '--label-dir', 'missing')
    msg = str(e.value)
    assert msg.startswith('error: ') and '\n' not in msg
    assert str(tmp_path / 'missing') in msg


def test_gta_tool_from_a_fresh_process(tmp_path):
    root = tmp_path / 'gta'
    for i in range(1, 4):
        ids = np.full((4, 6), 7, np.uint8)
        ids[0, i] = 26
        write_raw(str(root / 'labels' / f'{i:05d}.png'), ids, i % 2 == 0)
    cmd = [
        sys.executable,
        osp.join(TOOLS, 'gta.py'),
        str(root), '--nproc', '2'
    ]
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)
    res = subprocess.run(
        cmd,
        cwd=str(tmp_path),
        env=env,
        timeout=300,
        capture_output=True,
        text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'converted 3 label files' in res.stdout
    run_tool('gta.py', root)  # again (in-process): same files
    assert sorted(os.listdir(root / 'labels')) == sorted(
        [f'{i:05d}.png' for i in range(1, 4)] +
        [f'{i:05d}_labelTrainIds.png' for i in range(1, 4)])
    _, train_ids = read(root / 'labels' / '00002_labelTrainIds.png')
    assert train_ids[0, 2] == 13 and train_ids[1, 1] == 0
    stats, samples = load_class_stats(str(root))
    assert [s['file'] for s in stats
            ] == [f'labels/{i:05d}_labelTrainIds.png' for i in range(1, 4)]
    assert stats[0] == {
        '0': 23,
        '13': 1,
        'file': 'labels/00001_labelTrainIds.png'
    }
    assert len(samples['13']) == 3
