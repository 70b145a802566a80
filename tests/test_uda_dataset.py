"""Behaviour of ``UDADataset`` (labeled source + unlabeled target pairs)."""
import os
import os.path as osp
import time
from collections import Counter

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from PIL import Image
from torch.utils.data import DataLoader, Dataset, get_worker_info

import mmvlpuda  # noqa: F401  (registers modules, compat fixes)
from mmvlpuda.datasets import UDADataset
from mmvlpuda.registry import DATASETS


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmvlpuda')


class IndexDataset(Dataset):
    """Fake dataset of any length: item ``i`` reports ``i`` and the worker."""

    def __init__(self, length, name='fake'):
        self.length, self.name = length, name
        self.calls = 0

    def __len__(self):
        return self.length

    def __getitem__(self, idx):
        if not 0 <= idx < self.length:
            raise IndexError(idx)
        self.calls += 1
        info = get_worker_info()
        return dict(
            name=self.name,
            idx=int(idx),
            worker=info.id if info is not None else -1)


def target_indices(ds, n=None, start=0):
    n = len(ds) if n is None else n
    return [ds[start + i]['target']['idx'] for i in range(n)]


# ---------------------------------------------------------------- folders

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(16, 16), keep_ratio=False),
    dict(type='mmpretrain.RandomCrop', crop_size=12),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.PackInputs'),
]


def _write(path, colour):
    os.makedirs(osp.dirname(path), exist_ok=True)
    arr = np.empty((18, 20, 3), np.uint8)
    arr[:] = colour
    Image.fromarray(arr).save(path)


@pytest.fixture
def folder_cfgs(tmp_path):
    """Source 'Art' (3 images) and target 'Clipart' (5 images) configs."""
    counts = {'Art': {'a': 1, 'b': 2}, 'Clipart': {'a': 3, 'b': 2}}
    for domain, per_class in counts.items():
        for name, n in per_class.items():
            for i in range(n):
                _write(
                    osp.join(str(tmp_path), domain, name, f'{i}.jpg'),
                    (200, 30, 30) if name == 'a' else (30, 200, 30))
    base = dict(
        type='DomainFolderDataset',
        data_root=str(tmp_path),
        classes=['b', 'a'],
        pipeline=PIPELINE)
    return dict(base, domain='Art'), dict(base, domain='Clipart')


def test_built_from_folder_configs(folder_cfgs):
    src_cfg, tgt_cfg = folder_cfgs
    ds = DATASETS.build(
        dict(type='UDADataset', source=src_cfg, target=tgt_cfg, seed=0))
    assert isinstance(ds, UDADataset)
    assert len(ds) == 5  # max(3, 5)
    assert list(ds.metainfo['classes']) == ['b', 'a']

    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == {'source', 'target'}
        src, tgt = item['source'], item['target']
        for branch in (src, tgt):
            assert isinstance(branch['inputs'], torch.Tensor)
            assert branch['inputs'].shape == (3, 12, 12)
        assert f'{os.sep}Art{os.sep}' in src['data_samples'].img_path
        assert f'{os.sep}Clipart{os.sep}' in tgt['data_samples'].img_path
        # source keeps its label, the target's is hidden by default
        assert 'gt_label' in src['data_samples']
        assert int(src['data_samples'].gt_label) == ds.source.get_data_info(
            i % len(ds.source))['gt_label']
        assert 'gt_label' not in tgt['data_samples']


def test_keep_target_labels_when_asked(folder_cfgs):
    src_cfg, tgt_cfg = folder_cfgs
    ds = DATASETS.build(
        dict(
            type='UDADataset',
            source=src_cfg,
            target=tgt_cfg,
            seed=0,
            drop_target_labels=False))
    classes = ['b', 'a']
    for i in range(len(ds)):
        tgt = ds[i]['target']['data_samples']
        assert 'gt_label' in tgt
        folder = osp.basename(osp.dirname(tgt.img_path))
        assert classes[int(tgt.gt_label)] == folder


def test_dropping_target_labels_does_not_touch_target_dataset(folder_cfgs):
    src_cfg, tgt_cfg = folder_cfgs
    ds = DATASETS.build(
        dict(type='UDADataset', source=src_cfg, target=tgt_cfg, seed=0))
    for i in range(len(ds)):
        ds[i]
    # the wrapped target dataset still serves labelled samples
    for j in range(len(ds.target)):
        assert 'gt_label' in ds.target[j]['data_samples']
        assert ds.target.get_data_info(j)['gt_label'] in (0, 1)


def test_accepts_dataset_objects(folder_cfgs):
    src_cfg, tgt_cfg = folder_cfgs
    src, tgt = DATASETS.build(src_cfg), DATASETS.build(tgt_cfg)
    ds = UDADataset(source=src, target=tgt, seed=1)
    assert ds.source is src and ds.target is tgt
    assert len(ds) == 5


def test_pseudo_collate_gives_nested_branch_batches(folder_cfgs):
    src_cfg, tgt_cfg = folder_cfgs
    ds = DATASETS.build(
        dict(type='UDADataset', source=src_cfg, target=tgt_cfg, seed=0))
    batch = pseudo_collate([ds[i] for i in range(4)])

    assert set(batch) == {'source', 'target'}
    for branch in ('source', 'target'):
        assert set(batch[branch]) == {'inputs', 'data_samples'}
        inputs = batch[branch]['inputs']
        samples = batch[branch]['data_samples']
        assert isinstance(inputs, list) and len(inputs) == 4
        assert all(
            isinstance(x, torch.Tensor) and x.shape == (3, 12, 12)
            for x in inputs)
        assert isinstance(samples, list) and len(samples) == 4
    assert all('gt_label' in s for s in batch['source']['data_samples'])
    assert not any('gt_label' in s for s in batch['target']['data_samples'])


# ---------------------------------------------------------------- indexing


def test_length_is_max_and_source_index_wraps():
    ds = UDADataset(IndexDataset(3, 'src'), IndexDataset(10, 'tgt'), seed=0)
    assert len(ds) == 10
    items = [ds[i] for i in range(10)]
    assert [it['source']['idx'] for it in items] == [i % 3 for i in range(10)]
    assert all(it['source']['name'] == 'src' for it in items)
    assert all(it['target']['name'] == 'tgt' for it in items)
    assert all(0 <= it['target']['idx'] < 10 for it in items)


def test_longer_source_is_walked_in_order():
    ds = UDADataset(IndexDataset(10, 'src'), IndexDataset(3, 'tgt'), seed=0)
    assert len(ds) == 10
    assert [ds[i]['source']['idx'] for i in range(10)] == list(range(10))
    assert {ds[i]['target']['idx'] for i in range(10)} <= {0, 1, 2}


def test_target_draws_cover_target_uniformly():
    ds = UDADataset(IndexDataset(7), IndexDataset(5), seed=3)
    counts = Counter(ds[i % 7]['target']['idx'] for i in range(5000))
    assert set(counts) == set(range(5))
    # expected 1000 each (std ~28): far from e.g. always drawing index 0
    assert all(850 < c < 1150 for c in counts.values()), counts


def test_never_builds_a_pair_index():
    n = 10**6
    src, tgt = IndexDataset(n, 'src'), IndexDataset(n, 'tgt')
    start = time.perf_counter()
    ds = UDADataset(src, tgt, seed=0)
    length = len(ds)
    elapsed = time.perf_counter() - start

    assert length == n
    assert elapsed < 0.5, f'construction + len took {elapsed:.2f}s'
    # nothing is read at construction time
    assert src.calls == 0 and tgt.calls == 0
    last = ds[n - 1]
    assert last['source']['idx'] == n - 1
    assert 0 <= last['target']['idx'] < n


def test_huge_unequal_lengths():
    ds = UDADataset(IndexDataset(10**6), IndexDataset(10**9), seed=0)
    assert len(ds) == 10**9
    item = ds[10**9 - 1]
    assert item['source']['idx'] == (10**9 - 1) % 10**6
    assert 0 <= item['target']['idx'] < 10**9


# ---------------------------------------------------------------- seeding


def test_same_seed_same_target_sequence():
    a = UDADataset(IndexDataset(50), IndexDataset(1000), seed=123)
    b = UDADataset(IndexDataset(50), IndexDataset(1000), seed=123)
    assert target_indices(a) == target_indices(b)


def test_different_seed_different_target_sequence():
    a = UDADataset(IndexDataset(50), IndexDataset(1000), seed=123)
    b = UDADataset(IndexDataset(50), IndexDataset(1000), seed=124)
    seq_a, seq_b = target_indices(a), target_indices(b)
    assert seq_a != seq_b
    assert sum(x == y for x, y in zip(seq_a, seq_b)) < 5


def test_target_draws_do_not_depend_on_source_index():
    """Target draws are a stream, not a function of the index, so repeated
    passes over the same source indices pair them with new targets."""
    ds = UDADataset(IndexDataset(20), IndexDataset(1000), seed=5)
    first, second = target_indices(ds), target_indices(ds)
    assert first != second


def test_seed_none_follows_numpy_global_seed():
    np.random.seed(2024)
    a = UDADataset(IndexDataset(30), IndexDataset(1000))
    np.random.seed(2024)
    b = UDADataset(IndexDataset(30), IndexDataset(1000))
    np.random.seed(7)
    c = UDADataset(IndexDataset(30), IndexDataset(1000))
    assert target_indices(a) == target_indices(b)
    assert target_indices(a) != target_indices(c)


def test_ranks_get_different_target_streams(monkeypatch):
    import mmvlpuda.datasets.uda_dataset as uda_module

    streams = []
    for rank in (0, 1):
        monkeypatch.setattr(uda_module, 'get_rank', lambda rank=rank: rank)
        ds = UDADataset(IndexDataset(50), IndexDataset(1000), seed=11)
        streams.append(target_indices(ds))
    assert streams[0] != streams[1]
    assert sum(x == y for x, y in zip(*streams)) < 5


# ---------------------------------------------------------------- workers


def _run_loader(seed, num_workers=2, n=40, target_len=1000):
    # a run fixes every seed (mmengine's ``randomness.seed`` seeds torch too)
    torch.manual_seed(seed)
    ds = UDADataset(
        IndexDataset(n, 'src'), IndexDataset(target_len, 'tgt'), seed=seed)
    # the first ``n`` indices only (len(ds) is the longer target's length)
    loader = DataLoader(
        ds, batch_size=None, sampler=list(range(n)), num_workers=num_workers)
    return [(int(it['source']['idx']), int(it['target']['idx']),
             int(it['target']['worker'])) for it in loader]


def test_workers_draw_different_target_streams():
    items = _run_loader(seed=0)
    assert sorted(s for s, _, _ in items) == list(range(40))
    by_worker = {}
    for _, t, w in items:
        by_worker.setdefault(w, []).append(t)
    assert set(by_worker) == {0, 1}
    seq0, seq1 = by_worker[0], by_worker[1]
    assert len(seq0) == len(seq1) == 20
    assert seq0 != seq1
    # not merely shifted/partially shared: (almost) no position agrees
    assert sum(x == y for x, y in zip(seq0, seq1)) < 3
    # and the pooled stream is not dominated by repeats
    assert len({t for _, t, _ in items}) > 30


def test_loader_runs_are_reproducible_for_a_seed():
    first, second = _run_loader(seed=42), _run_loader(seed=42)
    assert first == second
    assert Counter(t for _, t, _ in first) == Counter(t for _, t, _ in second)
    other = _run_loader(seed=43)
    assert [t for _, t, _ in other] != [t for _, t, _ in first]


def _epochs(num_workers, persistent_workers=False, n=40, epochs=2):
    torch.manual_seed(0)
    ds = UDADataset(IndexDataset(n), IndexDataset(1000), seed=0)
    loader = DataLoader(
        ds,
        batch_size=None,
        sampler=list(range(n)),
        num_workers=num_workers,
        persistent_workers=persistent_workers)
    return [[int(it['target']['idx']) for it in loader] for _ in range(epochs)]


@pytest.mark.parametrize(
    'num_workers,persistent', [(0, False), (2, True), (2, False)],
    ids=['main-process', 'persistent-workers', 'fresh-workers-each-epoch'])
def test_each_epoch_draws_new_targets(num_workers, persistent):
    """Epoch-based training must not replay the same target draws every
    epoch (otherwise the targets missed in epoch 1 are never seen)."""
    first, second = _epochs(num_workers, persistent)
    assert first != second
    assert sum(x == y for x, y in zip(first, second)) < 3


def test_worker_stream_differs_from_main_process_stream():
    main = [t for _, t, _ in _run_loader(seed=9, num_workers=0, n=20)]
    workers = _run_loader(seed=9, num_workers=2, n=40)
    for w in (0, 1):
        seq = [t for _, t, wid in workers if wid == w]
        assert seq != main


# ---------------------------------------------------------------- errors


def test_empty_source_raises():
    with pytest.raises(ValueError) as exc:
        UDADataset(IndexDataset(0), IndexDataset(5))
    assert 'source' in str(exc.value)
    assert '\n' not in str(exc.value)


def test_empty_target_raises():
    with pytest.raises(ValueError) as exc:
        UDADataset(IndexDataset(5), IndexDataset(0))
    assert 'target' in str(exc.value)
    assert 'source' not in str(exc.value)
    assert '\n' not in str(exc.value)


# ---------------------------------------------------------------- strong view

STRONG = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(16, 16), keep_ratio=False),
    dict(type='CenterCrop', crop_size=10),
    dict(type='TimmRandAugment'),
    dict(type='mmpretrain.PackInputs'),
]


def test_target_strong_pipeline_views_the_same_target_image(folder_cfgs):
    src_cfg, tgt_cfg = folder_cfgs
    plain = DATASETS.build(
        dict(type='UDADataset', source=src_cfg, target=tgt_cfg, seed=0))
    ds = DATASETS.build(
        dict(
            type='UDADataset',
            source=src_cfg,
            target=tgt_cfg,
            seed=0,
            target_strong=STRONG))
    for i in range(2 * len(ds)):
        item, ref = ds[i % len(ds)], plain[i % len(plain)]
        assert set(item) == {'source', 'target', 'target_strong'}
        weak, strong = item['target'], item['target_strong']
        # same image (same index j), other pipeline
        assert strong['data_samples'].img_path == \
            weak['data_samples'].img_path
        assert weak['inputs'].shape == (3, 12, 12)
        assert strong['inputs'].shape == (3, 10, 10)
        assert 'gt_label' not in strong['data_samples']
        # the strong view does not consume target draws
        assert weak['data_samples'].img_path == \
            ref['target']['data_samples'].img_path


def test_target_strong_keeps_labels_when_asked(folder_cfgs):
    src_cfg, tgt_cfg = folder_cfgs
    ds = DATASETS.build(
        dict(
            type='UDADataset',
            source=src_cfg,
            target=tgt_cfg,
            seed=0,
            target_strong=STRONG,
            drop_target_labels=False))
    item = ds[0]
    assert int(item['target_strong']['data_samples'].gt_label) == int(
        item['target']['data_samples'].gt_label)


def test_target_strong_as_dataset_uses_the_same_index():
    ds = UDADataset(
        IndexDataset(4, 'src'),
        IndexDataset(9, 'weak'),
        seed=2,
        target_strong=IndexDataset(9, 'strong'))
    for i in range(20):
        item = ds[i % 4]
        assert item['target_strong']['name'] == 'strong'
        assert item['target_strong']['idx'] == item['target']['idx']


def test_target_strong_errors():
    with pytest.raises(ValueError, match='same images'):
        UDADataset(
            IndexDataset(4), IndexDataset(9), target_strong=IndexDataset(8))
    with pytest.raises(ValueError, match='get_data_info'):
        UDADataset(IndexDataset(4), IndexDataset(9), target_strong=STRONG)


def test_strong_view_batches_through_the_preprocessor(folder_cfgs):
    from mmvlpuda.registry import MODELS
    src_cfg, tgt_cfg = folder_cfgs
    ds = DATASETS.build(
        dict(
            type='UDADataset',
            source=src_cfg,
            target=tgt_cfg,
            seed=0,
            target_strong=STRONG))
    batch = pseudo_collate([ds[i] for i in range(3)])
    out = MODELS.build(dict(type='UDADataPreprocessor'))(batch, True)
    assert set(out) == {'source', 'target', 'target_strong'}
    assert out['target_strong']['inputs'].shape == (3, 3, 10, 10)
    assert out['target_strong']['inputs'].dtype == torch.float32
