"""Behaviour of ``UDAInfiniteSampler``: both domains shuffled without
replacement, each on its own, as the official loaders (Wenlve-Zhou/VLP-UDA
``utils/data_loader.py``: one ``InfiniteDataLoader`` per domain over
``RandomSampler(replacement=False)``)."""
import itertools

import pytest
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader, Dataset

import mmvlpuda  # noqa: F401
from mmvlpuda.datasets import UDADataset, UDAInfiniteSampler
from mmvlpuda.registry import DATA_SAMPLERS


class IndexDataset(Dataset):

    def __init__(self, length):
        self.length = length

    def __len__(self):
        return self.length

    def __getitem__(self, idx):
        if not 0 <= idx < self.length:
            raise IndexError(idx)
        return dict(idx=idx)


def _pairs(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_every_pass_over_each_domain_is_a_permutation():
    ds = UDADataset(IndexDataset(7), IndexDataset(5), seed=0)
    pairs = _pairs(UDAInfiniteSampler(ds, seed=3), 35)
    src, tgt = [s for s, _ in pairs], [t for _, t in pairs]
    for k in range(5):  # 5 source passes, 7 target passes
        assert sorted(src[7 * k:7 * k + 7]) == list(range(7))
    for k in range(7):
        assert sorted(tgt[5 * k:5 * k + 5]) == list(range(5))
    # a fresh shuffle each pass, not one order repeated
    passes = {tuple(tgt[5 * k:5 * k + 5]) for k in range(7)}
    assert len(passes) > 1


def test_source_and_target_orders_are_independent():
    ds = UDADataset(IndexDataset(100), IndexDataset(100), seed=0)
    pairs = _pairs(UDAInfiniteSampler(ds, seed=1), 100)
    assert sum(s == t for s, t in pairs) < 10


def test_seeded_and_reproducible():
    ds = UDADataset(IndexDataset(20), IndexDataset(30), seed=0)
    a = _pairs(UDAInfiniteSampler(ds, seed=5), 60)
    assert a == _pairs(UDAInfiniteSampler(ds, seed=5), 60)
    assert a != _pairs(UDAInfiniteSampler(ds, seed=6), 60)


def test_no_shuffle_walks_both_domains_in_order():
    ds = UDADataset(IndexDataset(3), IndexDataset(2), seed=0)
    pairs = _pairs(UDAInfiniteSampler(ds, shuffle=False, seed=0), 6)
    assert pairs == [(0, 0), (1, 1), (2, 0), (0, 1), (1, 0), (2, 1)]


def test_ranks_split_one_stream(monkeypatch):
    """Under DDP each rank takes every world_size-th pair of the same
    stream, so ranks never share a pass position."""
    import mmengine.dataset.sampler as sampler_module

    ds = UDADataset(IndexDataset(10), IndexDataset(12), seed=0)
    full = _pairs(UDAInfiniteSampler(ds, seed=4), 24)
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setattr(
            sampler_module, 'get_dist_info', lambda rank=rank: (rank, 2))
        per_rank.append(_pairs(UDAInfiniteSampler(ds, seed=4), 12))
    assert per_rank[0] == full[0::2] and per_rank[1] == full[1::2]
    targets = [t for _, t in per_rank[0] + per_rank[1]]
    assert sorted(targets[:6] + targets[12:18]) == list(range(12))


def test_without_replacement_across_dataloader_workers():
    """The sampler runs in the main process: the targets of one pass are
    distinct whichever worker loads them (a per-worker random stream could
    not promise that)."""
    ds = UDADataset(IndexDataset(8), IndexDataset(24), seed=0)
    loader = DataLoader(
        ds,
        batch_size=4,
        sampler=UDAInfiniteSampler(ds, seed=0),
        num_workers=2,
        collate_fn=pseudo_collate)
    batches = list(itertools.islice(iter(loader), 12))
    targets = [t for b in batches for t in b['target']['idx']]
    sources = [s for b in batches for s in b['source']['idx']]
    assert sorted(targets[:24]) == list(range(24))
    assert sorted(targets[24:]) == list(range(24))
    for k in range(6):
        assert sorted(sources[8 * k:8 * k + 8]) == list(range(8))


def test_strong_view_follows_the_sampled_target_index():
    ds = UDADataset(
        IndexDataset(4),
        IndexDataset(6),
        seed=0,
        target_strong=IndexDataset(6))
    item = ds[(3, 5)]
    assert item['source']['idx'] == 3
    assert item['target']['idx'] == item['target_strong']['idx'] == 5


def test_built_from_the_registry_like_the_runner():
    ds = UDADataset(IndexDataset(4), IndexDataset(6), seed=0)
    sampler = DATA_SAMPLERS.build(
        dict(type='UDAInfiniteSampler', shuffle=True),
        default_args=dict(dataset=ds, seed=0))
    assert isinstance(sampler, UDAInfiniteSampler)
    assert len(sampler) == 6
    s, t = next(iter(sampler))
    assert 0 <= s < 4 and 0 <= t < 6


def test_rejects_a_dataset_without_source_and_target():
    with pytest.raises(TypeError, match='UDAInfiniteSampler needs'):
        UDAInfiniteSampler(IndexDataset(3), seed=0)
