"""GTA5 / ACDC datasets, UDA segmentation pairs and Rare Class Sampling on
the tiny trees of ``tests/seg_data.py``, through real mmseg pipelines."""
import json
import os
import os.path as osp
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from mmengine import DefaultScope
from mmengine.dataset import pseudo_collate
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch.utils.data import DataLoader, Dataset

from mmvlpuda.datasets import (ACDCDataset, GTADataset, UDASegDataset,
                               rcs_class_probs)
from mmvlpuda.registry import DATASETS
from seg_data import (COUNTS, GTA_NUM, RARE_CLASSES, H, W, make_label,
                      make_seg_trees)

CROP = 32
TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    dict(type='mmseg.RandomCrop', crop_size=(CROP, CROP)),
    dict(type='mmseg.PackSegInputs'),
]
FULL_PIPELINE = [  # no crop: labels compare to the generated ones
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    dict(type='mmseg.PackSegInputs'),
]
UNLABELED_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.PackSegInputs'),
]
ACDC_CONDS = ('fog', 'night', 'rain', 'snow')


@pytest.fixture(scope='module')
def trees(tmp_path_factory):
    """Read-only trees shared by the module (tests that break a layout use
    the function-scoped ``seg_trees`` fixture)."""
    return make_seg_trees(tmp_path_factory.mktemp('seg'))


# serialize_data=False: mmengine's serialisation runs gc.collect() (~0.3 s
# per build); the default is exercised in a few tests
def gta_cfg(root, pipeline=TRAIN_PIPELINE, **kwargs):
    return dict(
        type='GTADataset',
        data_root=root,
        pipeline=pipeline,
        **dict(dict(serialize_data=False), **kwargs))


def acdc_cfg(root, pipeline=TRAIN_PIPELINE, **kwargs):
    return dict(
        type='ACDCDataset',
        data_root=root,
        pipeline=pipeline,
        **dict(dict(serialize_data=False), **kwargs))


def check_labeled(item, size=(CROP, CROP)):
    assert item['inputs'].shape == (3, *size)
    gt = item['data_samples'].gt_sem_seg.data
    assert gt.shape == (1, *size) and gt.dtype == torch.int64
    values = set(gt.unique().tolist())
    assert values <= set(range(19)) | {255}
    return gt


def one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert '\n' not in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


# ------------------------------------------------------------------- GTA
def test_gta_loads_through_mmseg_pipeline(trees):
    ds = DATASETS.build(gta_cfg(trees['gta'], serialize_data=True))
    assert isinstance(ds, GTADataset) and len(ds) == GTA_NUM
    assert ds.metainfo['classes'][13] == 'car'
    check_labeled(ds[0])
    full = DATASETS.build(gta_cfg(trees['gta'], FULL_PIPELINE))
    gt = check_labeled(full[GTA_NUM - 1], (H, W))[0].numpy()
    expected = make_label(RARE_CLASSES)
    expected[0, :4] = 255  # non-train label ids of the raw label
    np.testing.assert_array_equal(gt, expected)
    info = full.get_data_info(0)
    assert info['seg_map_path'].endswith('labels/00001_labelTrainIds.png')


def test_gta_from_mmseg_default_scope(trees):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomCrop', crop_size=(CROP, CROP)),
        dict(type='PackSegInputs')
    ]
    with DefaultScope.overwrite_default_scope('mmseg'):
        from mmseg.registry import DATASETS as MMSEG_DATASETS
        ds = MMSEG_DATASETS.build(
            dict(
                type='mmvlpuda.GTADataset',
                data_root=trees['gta'],
                pipeline=pipeline))
        check_labeled(ds[1])


def test_uda_config_in_mmseg_scope(trees):
    """What a GTA->Cityscapes config with default_scope='mmseg' builds."""
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomCrop', crop_size=(CROP, CROP)),
        dict(type='PackSegInputs')
    ]
    cfg = dict(
        type='mmvlpuda.UDASegDataset',
        source=dict(
            type='mmvlpuda.GTADataset',
            data_root=trees['gta'],
            pipeline=pipeline),
        target=dict(
            type='CityscapesDataset',
            data_root=trees['cityscapes'],
            data_prefix=dict(img_path='leftImg8bit/train'),
            pipeline=pipeline[:1] + pipeline[2:]),
        rare_class_sampling=dict(min_pixels=20))
    with DefaultScope.overwrite_default_scope('mmseg'):
        from mmseg.registry import DATASETS as MMSEG_DATASETS
        ds = MMSEG_DATASETS.build(cfg)
        item = ds[0]
    assert isinstance(ds, UDASegDataset) and len(ds) == GTA_NUM
    check_labeled(item['source'])
    assert 'gt_sem_seg' not in item['target']['data_samples']


def test_gta_unlabeled(trees):
    ds = DATASETS.build(
        gta_cfg(
            trees['gta'],
            UNLABELED_PIPELINE,
            data_prefix=dict(img_path='images')))
    assert 'seg_map_path' not in ds.get_data_info(0)
    item = ds[0]
    assert item['inputs'].shape == (3, H, W)
    assert 'gt_sem_seg' not in item['data_samples']


def test_cityscapes_tree_loads_with_mmseg(trees):
    counts = {}
    for split in ('train', 'val'):
        ds = DATASETS.build(
            dict(
                type='mmseg.CityscapesDataset',
                data_root=trees['cityscapes'],
                data_prefix=dict(
                    img_path=f'leftImg8bit/{split}',
                    seg_map_path=f'gtFine/{split}'),
                pipeline=TRAIN_PIPELINE))
        counts[split] = len(ds)
        check_labeled(ds[0])
    assert counts == COUNTS['cityscapes']


# ------------------------------------------------------------------ ACDC
@pytest.mark.parametrize('split', ['train', 'val'])
def test_acdc_download_layout_all_conditions(trees, split):
    ds = DATASETS.build(
        acdc_cfg(trees['acdc'], split=split, serialize_data=True))
    assert isinstance(ds, ACDCDataset)
    assert len(ds) == COUNTS['acdc'][split]
    conds = Counter(
        ds.get_data_info(i)['img_path'].split(os.sep)[-4]
        for i in range(len(ds)))
    assert set(conds) == set(ACDC_CONDS)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        img_rel = osp.relpath(info['img_path'], trees['acdc'] + '/rgb_anon')
        seg_rel = osp.relpath(info['seg_map_path'], trees['acdc'] + '/gt')
        assert seg_rel == img_rel.replace('_rgb_anon.png',
                                          '_gt_labelTrainIds.png')
        assert osp.isfile(info['seg_map_path'])
    check_labeled(ds[0])


@pytest.mark.parametrize('conditions, split, n', [
    (('night', ), 'val', 1),
    (('fog', 'night'), 'train', 4),
    (('rain', 'snow', 'fog'), 'val', 3),
])
def test_acdc_condition_subsets(trees, conditions, split, n):
    ds = DATASETS.build(
        acdc_cfg(trees['acdc'], split=split, conditions=conditions))
    assert len(ds) == n
    for i in range(n):
        parts = ds.get_data_info(i)['img_path'].split(os.sep)
        assert parts[-4] in conditions and parts[-3] == split
    check_labeled(ds[0])


def test_acdc_flat_layout_matches_download_layout(trees):
    for split, n in COUNTS['acdc'].items():
        flat = DATASETS.build(
            acdc_cfg(trees['acdc_flat'], FULL_PIPELINE, split=split))
        assert len(flat) == n
        assert osp.dirname(flat.get_data_info(0)['img_path']) == osp.join(
            trees['acdc_flat'], 'rgb_anon', split)
    flat = DATASETS.build(
        acdc_cfg(trees['acdc_flat'], FULL_PIPELINE, split='val'))
    night = DATASETS.build(
        acdc_cfg(
            trees['acdc'], FULL_PIPELINE, split='val', conditions=['night']))
    name = osp.basename(night.get_data_info(0)['img_path'])
    j = [
        osp.basename(flat.get_data_info(i)['img_path'])
        for i in range(len(flat))
    ].index(name)
    assert torch.equal(flat[j]['data_samples'].gt_sem_seg.data,
                       night[0]['data_samples'].gt_sem_seg.data)


def test_acdc_default_split_and_unlabeled(trees):
    ds = DATASETS.build(
        acdc_cfg(trees['acdc'], UNLABELED_PIPELINE, with_labels=False))
    assert ds.split == 'train' and len(ds) == COUNTS['acdc']['train']
    assert 'seg_map_path' not in ds.get_data_info(0)
    item = ds[0]
    assert item['inputs'].shape == (3, H, W)
    assert 'gt_sem_seg' not in item['data_samples']


def test_acdc_explicit_data_prefix_behaves_like_cityscapes(trees):
    ds = DATASETS.build(
        acdc_cfg(
            trees['acdc_flat'],
            UNLABELED_PIPELINE,
            data_prefix=dict(img_path='rgb_anon/val')))
    assert len(ds) == COUNTS['acdc']['val']
    assert 'gt_sem_seg' not in ds[0]['data_samples']
    ds = DATASETS.build(
        acdc_cfg(
            trees['acdc'],
            data_prefix=dict(
                img_path='rgb_anon/snow/train', seg_map_path='gt/snow/train')))
    assert len(ds) == 2
    check_labeled(ds[0])
    with pytest.raises(ValueError) as e:
        DATASETS.build(
            acdc_cfg(
                trees['acdc'],
                split='val',
                data_prefix=dict(img_path='rgb_anon/val')))
    one_line_error(e, 'data_prefix', 'split')


# --------------------------------------------------------------- errors
def test_missing_image_dir_error(tmp_path):
    with pytest.raises(ValueError) as e:
        DATASETS.build(gta_cfg(str(tmp_path / 'nowhere')))
    one_line_error(e, str(tmp_path / 'nowhere' / 'images'), '*.png')


def test_no_images_error(tmp_path):
    (tmp_path / 'gta' / 'images').mkdir(parents=True)
    (tmp_path / 'gta' / 'images' / 'a.jpg').write_bytes(b'')
    with pytest.raises(ValueError) as e:
        DATASETS.build(gta_cfg(str(tmp_path / 'gta')))
    one_line_error(e, str(tmp_path / 'gta' / 'images'), '*.png',
                   'no image found')


def test_missing_label_error(seg_trees):
    label = osp.join(seg_trees['gta'], 'labels', '00003_labelTrainIds.png')
    os.remove(label)
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(gta_cfg(seg_trees['gta']))
    one_line_error(e, label, 'tools/dataset_converters/gta.py')
    label = osp.join(seg_trees['acdc'], 'gt', 'rain', 'val', 'GOPR0400',
                     'GOPR0400_frame_000041_gt_labelTrainIds.png')
    os.remove(label)
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(acdc_cfg(seg_trees['acdc'], split='val'))
    one_line_error(e, label)
    # labels are not expected for an unlabeled dataset
    ds = DATASETS.build(
        acdc_cfg(
            seg_trees['acdc'],
            UNLABELED_PIPELINE,
            split='val',
            with_labels=False))
    assert len(ds) == COUNTS['acdc']['val']


def test_acdc_layout_errors(seg_trees, tmp_path):
    with pytest.raises(ValueError) as e:
        DATASETS.build(acdc_cfg(str(tmp_path), split='val'))
    one_line_error(e, str(tmp_path), 'rgb_anon/val', '_rgb_anon.png')
    with pytest.raises(ValueError) as e:
        DATASETS.build(acdc_cfg(seg_trees['acdc'], conditions=('haze', )))
    one_line_error(e, 'haze', 'conditions')
    with pytest.raises(ValueError) as e:
        DATASETS.build(
            acdc_cfg(
                seg_trees['acdc_flat'], split='val', conditions=('night', )))
    one_line_error(
        e, osp.join(seg_trees['acdc_flat'], 'rgb_anon', 'night', 'val'),
        'conditions=None')
    shutil.rmtree(osp.join(seg_trees['acdc'], 'rgb_anon', 'snow', 'val'))
    with pytest.raises(ValueError) as e:
        DATASETS.build(acdc_cfg(seg_trees['acdc'], split='val'))
    one_line_error(e, osp.join(seg_trees['acdc'], 'rgb_anon', 'snow', 'val'),
                   '_rgb_anon.png')


# ------------------------------------------------------- UDASegDataset
def uda_cfg(trees, **kwargs):
    cfg = dict(
        type='UDASegDataset',
        source=gta_cfg(trees['gta']),
        # target pipeline WITH labels: they must be stripped
        target=acdc_cfg(trees['acdc'], split='train'),
        seed=0)
    return dict(cfg, **kwargs)


def test_uda_seg_items_and_length(trees):
    ds = DATASETS.build(uda_cfg(trees))
    assert isinstance(ds, UDASegDataset)
    assert len(ds) == max(GTA_NUM, COUNTS['acdc']['train'])
    ds = DATASETS.build(
        uda_cfg(trees, target=acdc_cfg(trees['acdc'], split='val')))
    assert len(ds) == GTA_NUM  # not GTA_NUM * 4
    item = ds[3]
    assert set(item) == {'source', 'target'}
    check_labeled(item['source'])
    assert item['source']['data_samples'].img_path.endswith('00004.png')
    target = item['target']
    assert target['inputs'].shape == (3, CROP, CROP)
    assert isinstance(target['data_samples'], SegDataSample)
    assert 'gt_sem_seg' not in target['data_samples']
    assert ds.metainfo['classes'][0] == 'road'


def test_uda_seg_keeps_target_labels_if_asked(trees):
    ds = DATASETS.build(uda_cfg(trees, drop_target_labels=False))
    assert 'gt_sem_seg' in ds[0]['target']['data_samples']


def test_uda_seg_dataloader_workers(trees):
    ds = DATASETS.build(
        uda_cfg(trees, rare_class_sampling=dict(min_pixels=20)))
    loader = DataLoader(
        ds, batch_size=2, num_workers=2, collate_fn=pseudo_collate)
    batch = next(iter(loader))
    assert len(batch['source']['inputs']) == 2
    assert all('gt_sem_seg' not in s for s in batch['target']['data_samples'])


# --------------------------------------------------------- RCS: probs
def test_rcs_class_probs_properties():
    stats = [{
        '0': 900,
        '1': 90,
        'file': 'a.png'
    }, {
        '0': 100,
        '2': 9,
        '3': 1,
        'file': 'b.png'
    }]
    classes, probs = rcs_class_probs(stats, 0.01)
    assert classes == [3, 2, 1, 0]  # ascending frequency
    assert probs.sum() == pytest.approx(1.0)
    assert np.all(np.diff(probs) < 0)  # rarer -> more probable
    f = np.array([1, 9, 90, 1000]) / 1100
    expected = np.exp((1 - f) / 0.01)
    np.testing.assert_allclose(probs, expected / expected.sum())
    _, uniform = rcs_class_probs({0: 1000, 5: 1, 7: 10}, 1e6)
    np.testing.assert_allclose(uniform, np.full(3, 1 / 3), atol=1e-6)
    with pytest.raises(ValueError, match='temperature'):
        rcs_class_probs(stats, 0)


def test_rcs_class_probs_of_generated_stats(trees):
    with open(osp.join(trees['gta'], 'sample_class_stats.json')) as f:
        stats = json.load(f)
    classes, probs = rcs_class_probs(stats, 0.01)
    assert sorted(classes) == list(range(19))
    p = dict(zip(classes, probs))
    assert min(p[c] for c in RARE_CLASSES) > 100 * max(
        p[c] for c in set(range(19)) - set(RARE_CLASSES))


# ------------------------------------------------------ RCS: sampling
def rare_pixels(item):
    gt = item['data_samples'].gt_sem_seg.data
    return int(sum((gt == c).sum() for c in RARE_CLASSES))


def test_rcs_draws_rare_class_images(trees):
    rcs = DATASETS.build(
        uda_cfg(trees, rare_class_sampling=dict(min_pixels=20)))
    plain = DATASETS.build(uda_cfg(trees))
    n = 200
    rng = np.random.default_rng(0)
    rcs_items = [rcs[0]['source'] for _ in range(n)]  # idx is ignored
    plain_items = [
        plain[int(i)]['source'] for i in rng.integers(len(plain), size=n)
    ]

    def from_rare_image(item):
        return item['data_samples'].img_path.endswith(f'{GTA_NUM:05d}.png')

    rcs_rate = np.mean([from_rare_image(s) for s in rcs_items])
    plain_rate = np.mean([from_rare_image(s) for s in plain_items])
    assert rcs_rate > 0.95 and plain_rate < 0.3
    # crops are retried until they show the sampled rare class
    rcs_hits = np.mean([rare_pixels(s) > 10 for s in rcs_items])
    plain_hits = np.mean([rare_pixels(s) > 10 for s in plain_items])
    assert rcs_hits > 0.8 and plain_hits < 0.2


def test_rcs_uses_per_worker_rng_and_seed(trees):
    cfg = uda_cfg(trees, rare_class_sampling=dict(min_pixels=20))
    a, b = DATASETS.build(cfg), DATASETS.build(cfg)

    def paths(ds):
        return [ds[0]['target']['data_samples'].img_path for _ in range(8)]

    assert paths(a) == paths(b)
    assert len(set(paths(a))) > 1


def test_rcs_stats_file_override_and_errors(trees, tmp_path, caplog):
    stats_dir = tmp_path / 'stats'
    shutil.copytree(trees['gta'], tmp_path / 'gta')
    root = str(tmp_path / 'gta')
    stats_dir.mkdir()
    for name in ('sample_class_stats.json', 'samples_with_class.json'):
        shutil.move(osp.join(root, name), stats_dir / name)
    cfg = uda_cfg(trees, source=gta_cfg(root))
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(dict(cfg, rare_class_sampling=dict(min_pixels=20)))
    one_line_error(e, 'python tools/dataset_converters/rcs_stats.py', root,
                   '--label-dir labels', '--suffix _labelTrainIds.png')
    for stats_file in (str(stats_dir),
                       str(stats_dir / 'sample_class_stats.json')):
        ds = DATASETS.build(
            dict(
                cfg,
                rare_class_sampling=dict(min_pixels=20,
                                         stats_file=stats_file)))
        assert set(ds.rcs.classes) == set(RARE_CLASSES) | {0, 1, 2, 8, 10, 13}
    with pytest.raises(ValueError) as e:
        DATASETS.build(dict(cfg, rare_class_sampling=dict(min_temp=1)))
    one_line_error(e, 'min_temp', 'rare_class_sampling')
    with pytest.raises(ValueError) as e:
        DATASETS.build(
            dict(
                cfg,
                rare_class_sampling=dict(
                    stats_file=str(stats_dir), min_pixels=10**6)))
    one_line_error(e, 'min_pixels')


def test_rcs_drops_classes_without_large_enough_images(trees):
    # rare blocks have 64 pixels, common stripes > 1000
    ds = DATASETS.build(
        uda_cfg(trees, rare_class_sampling=dict(min_pixels=100)))
    assert set(ds.rcs.classes) == {0, 1, 2, 8, 10, 13}
    assert set(ds.rcs.dropped) == set(RARE_CLASSES)
    assert ds.rcs.probs.sum() == pytest.approx(1.0)


# -------------------------------------------- RCS: crop retry (fakes)
class FakeCropSource(Dataset):
    """Four 'images'; item of image 2 shows class 5 only from the
    ``hit_at``-th load on (never if None)."""

    data_root = '/data/fake'
    metainfo = dict(classes=tuple(f'c{i}' for i in range(19)))

    def __init__(self, hit_at=None):
        self.hit_at, self.loads = hit_at, 0

    def __len__(self):
        return 4

    def get_data_info(self, i):
        return dict(seg_map_path=f'{self.data_root}/labels/{i}_ids.png')

    def __getitem__(self, i):
        self.loads += 1
        gt = torch.zeros(1, 8, 8, dtype=torch.int64)
        if self.hit_at is not None and self.loads >= self.hit_at:
            gt[0, :4] = 5  # 32 pixels of class 5
        sample = SegDataSample(gt_sem_seg=PixelData(data=gt))
        sample.set_metainfo(dict(load=self.loads))
        return dict(inputs=torch.zeros(3, 8, 8), data_samples=sample)


class FakeTarget(Dataset):

    def __len__(self):
        return 2

    def __getitem__(self, j):
        return dict(inputs=torch.zeros(3, 8, 8), data_samples=SegDataSample())


def fake_stats(tmp_path):
    # absolute paths of another machine: matched by basename
    stats = [{
        '0': 64,
        'file': '/elsewhere/labels/0_ids.png'
    }, {
        '0': 60,
        '5': 4,
        'file': '/elsewhere/labels/2_ids.png'
    }, {
        '0': 64,
        'file': '/elsewhere/labels/3_ids.png'
    }]
    with open(tmp_path / 'sample_class_stats.json', 'w') as f:
        json.dump(stats, f)
    return str(tmp_path)


@pytest.mark.parametrize('hit_at, loads, hit', [(1, 1, True), (4, 4, True),
                                                (11, 11, True),
                                                (None, 11, False)])
def test_rcs_crop_retry(tmp_path, hit_at, loads, hit):
    source = FakeCropSource(hit_at)
    ds = UDASegDataset(
        source,
        FakeTarget(),
        seed=0,
        rare_class_sampling=dict(
            stats_file=fake_stats(tmp_path),
            min_pixels=2,
            class_temp=0.01,
            min_crop_ratio=10))  # needs > 20 pixels of the class
    assert ds.rcs.classes == [5, 0]
    assert ds.rcs.probs[0] > 0.99
    source.loads = 0
    src = ds[0]['source']
    assert source.loads == loads  # first crop + at most 10 retries
    assert src['data_samples'].load == loads  # the last try is kept
    gt = src['data_samples'].gt_sem_seg.data
    assert bool((gt == 5).sum() > 20) is hit


def test_rcs_min_crop_ratio_zero_loads_once(tmp_path):
    source = FakeCropSource(None)
    ds = UDASegDataset(
        source,
        FakeTarget(),
        seed=0,
        rare_class_sampling=dict(
            stats_file=fake_stats(tmp_path), min_pixels=2, min_crop_ratio=0))
    source.loads = 0
    ds[0]
    assert source.loads == 1


def test_rcs_unmatched_stats_error(tmp_path):
    with open(tmp_path / 'sample_class_stats.json', 'w') as f:
        json.dump([{'0': 64, 'file': 'labels/other.png'}], f)
    with pytest.raises(ValueError) as e:
        UDASegDataset(
            FakeCropSource(),
            FakeTarget(),
            rare_class_sampling=dict(stats_file=str(tmp_path)))
    one_line_error(e, 'matches', 'rcs_stats.py')


def test_seg_trees_fixture(seg_trees):
    assert set(seg_trees) == {'cityscapes', 'gta', 'acdc', 'acdc_flat'}
    for root in seg_trees.values():
        assert osp.isdir(root)
    for root in (seg_trees['gta'], seg_trees['cityscapes']):
        assert osp.isfile(osp.join(root, 'sample_class_stats.json'))
        assert osp.isfile(osp.join(root, 'samples_with_class.json'))
