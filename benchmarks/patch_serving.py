"""Serving N domains from one shared model: PatchStore vs dense checkpoints.

Builds one open_clip RN50 image tower (random init: only the shapes matter)
as the shared base and ``--domains`` "fine-tunes" of it: a random
``--density`` fraction of the entries of every floating tensor (parameters
and BN running stats; ``make_patch`` stores every floating tensor that
differs, integer buffers such as ``num_batches_tracked`` stay as in the base)
changed by a small residual. Per domain, in one temporary folder, it writes
a sparse patch (``make_patch(...).save``, fp32, bit-exact) and the dense
checkpoint (``torch.save(state_dict)``) a user would otherwise ship.

It then times, side by side in one run (alternating methods each round), the
switch of the one model to each domain in turn, median per switch:

* ``PatchStore.activate`` (patches loaded from disk once; that one-time
  ``Patch.load`` + ``PatchStore.add`` cost is reported separately);
* ``torch.load`` of the domain's checkpoint + ``load_state_dict`` (the files
  were just written, so they are read from the page cache, not the device);
* ``load_state_dict`` from dense state dicts already in RAM (the copy alone).

Every domain reached through the store is checked to equal its dense state
dict bit-exactly, before and after timing.

    python benchmarks/patch_serving.py [--domains 10] [--density 0.01]
        [--threads 2] [--rounds 5]
"""
import argparse
import logging
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
import warnings

os.environ.setdefault('HF_HUB_OFFLINE', '1')  # random init: never download
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

import mmvlpuda.models  # noqa: F401,E402  (registers the models)
from mmvlpuda.sparse import Patch, PatchStore, make_patch  # noqa: E402


def build_rn50():
    import open_clip
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # 'No pretrained weights loaded': intended
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return open_clip.create_model('RN50').visual.eval()
    finally:
        root.setLevel(level)


@torch.no_grad()
def make_domains(base_sd, n, density, seed=0):
    """``n`` dense state dicts: ``density`` of each floating tensor changed."""
    gen = torch.Generator().manual_seed(seed)
    domains = []
    for _ in range(n):
        sd = {}
        for name, w0 in base_sd.items():
            w = w0.clone()
            if w.is_floating_point():
                k = max(1, round(density * w.numel()))
                pos = torch.randperm(w.numel(), generator=gen)[:k]
                step = 1e-4 + torch.rand(k, generator=gen) * 1e-3
                sign = torch.randint(0, 2, (k, ), generator=gen) * 2 - 1
                w.view(-1)[pos] += sign * step
            sd[name] = w
        domains.append(sd)
    return domains


def check_bit_exact(model, sd, what):
    got = model.state_dict()
    if got.keys() != sd.keys():
        raise AssertionError(f'{what}: state dict keys differ')
    for name, t in sd.items():
        a = got[name]
        if (a.dtype != t.dtype or a.shape != t.shape or not torch.equal(
                a.reshape(-1).view(torch.uint8),
                t.reshape(-1).view(torch.uint8))):
            raise AssertionError(f'{what}: `{name}` is not bit-exact')


def load_store(model, patch_paths):
    store = PatchStore(model)
    for i, path in enumerate(patch_paths):
        store.add(f'domain{i}', Patch.load(path))
    return store


def run(model, base_sd, domains, folder, rounds, arch='RN50/random'):
    """Write the artefacts, verify, time the switches; return the numbers."""
    n, keys = len(domains), [f'domain{i}' for i in range(len(domains))]
    patches = [osp.join(folder, f'{k}.patch') for k in keys]
    ckpts = [osp.join(folder, f'{k}.pth') for k in keys]
    for sd, patch_path, ckpt in zip(domains, patches, ckpts):
        make_patch(sd, base_sd, arch=arch).save(patch_path)
        torch.save(sd, ckpt)
    torch.save(base_sd, osp.join(folder, 'base.pth'))
    model.load_state_dict(base_sd)

    load_s = []  # one-time cost, repeated only to take a median
    for _ in range(rounds):
        start = time.perf_counter()
        store = load_store(model, patches)
        load_s.append(time.perf_counter() - start)

    def verify():
        for key, sd in zip(keys, domains):
            store.activate(key)
            check_bit_exact(model, sd, f'PatchStore.activate({key!r})')
        store.activate(None)
        check_bit_exact(model, base_sd, 'PatchStore.activate(None)')

    verify()
    methods = {
        'PatchStore.activate':
        lambda i: store.activate(keys[i]),
        'torch.load + load_state_dict':
        lambda i: model.load_state_dict(
            torch.load(ckpts[i], map_location='cpu', weights_only=True)),
        'load_state_dict from RAM':
        lambda i: model.load_state_dict(domains[i]),
    }
    times = {m: [] for m in methods}
    for _ in range(rounds):
        for name, switch in methods.items():
            switch(n - 1)  # untimed: every timed switch leaves a domain
            for i in range(n):
                start = time.perf_counter()
                switch(i)
                times[name].append(time.perf_counter() - start)
            # back to the base; the store must be left before anything else
            # writes the model (its undo values would be stale otherwise)
            store.activate(None)
            model.load_state_dict(base_sd)
    verify()
    return dict(
        ms={
            m: statistics.median(t) * 1e3
            for m, t in times.items()
        },
        load_ms=statistics.median(load_s) * 1e3,
        verified=n,
        nnz=store.patches[keys[0]].nnz,
        patch_bytes=sum(osp.getsize(p) for p in patches),
        dense_bytes=sum(osp.getsize(p) for p in ckpts),
        base_bytes=osp.getsize(osp.join(folder, 'base.pth')),
        store_ram=sum(
            nbytes(p.sparse.values()) for p in store.patches.values()),
        dense_ram=sum(nbytes(sd.values()) for sd in domains))


def nbytes(items):
    """Bytes of tensors or of :class:`SparseEntry`'s tensors."""
    return sum(t.numel() * t.element_size() for x in items
               for t in ((x, ) if torch.is_tensor(x) else (x.positions,
                                                           x.values,
                                                           x.exact_positions,
                                                           x.exact_values,
                                                           x.base_positions,
                                                           x.base_values))
               if t is not None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--domains', type=int, default=10)
    parser.add_argument('--density', type=float, default=0.01)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the random-init base

    model = build_rn50()
    base_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    domains = make_domains(base_sd, args.domains, args.density, args.seed)
    with tempfile.TemporaryDirectory(prefix='patch-serving-') as folder:
        r = run(model, base_sd, domains, folder, args.rounds)
    n = args.domains
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    print(f'RN50 image tower: {params:,} params (+ {buffers:,} floating '
          f'buffer entries), N = {n} domains, density {args.density:g} '
          f'({r["nnz"]:,} nnz per patch), {args.threads} threads, median of '
          f'{args.rounds} rounds x {n} switches\n')
    print('| method | ms per switch | ratio to PatchStore |')
    print('|---|---:|---:|')
    ours = r['ms']['PatchStore.activate']
    for name, ms in r['ms'].items():
        print(f'| {name} | {ms:.1f} | {ms / ours:.2f}x |')
    print(f'\none-time: Patch.load + PatchStore.add of the {n} patches '
          f'{r["load_ms"]:.0f} ms ({r["load_ms"] / n:.1f} ms per domain)')
    print(f'checked: after PatchStore.activate(domain i) the state dict '
          f'equals domain i\'s dense one bit-exactly, all {r["verified"]} '
          'domains (before and after timing); activate(None) restores '
          'the base bit-exactly')
    print(f'resident: the store\'s {n} patches {r["store_ram"] / 2**20:.1f} '
          f'MiB vs {n} dense state dicts {r["dense_ram"] / 2**20:.0f} MiB '
          '(what the RAM variant keeps)\n')
    patch, dense, base = r['patch_bytes'], r['dense_bytes'], r['base_bytes']
    print('| artefact | bytes per domain | total for N | ratio |')
    print('|---|---:|---:|---:|')
    for name, per, total in (('sparse patch (Patch.save)', patch / n, patch),
                             ('dense checkpoint (torch.save)', dense / n,
                              dense), ('shared base checkpoint + N patches',
                                       None, base + patch)):
        per = '-' if per is None else f'{per:,.0f}'
        print(f'| {name} | {per} | {total:,} | {total / patch:.2f}x |')
    print('\nratio: total bytes / total bytes of the N patches')


if __name__ == '__main__':
    main()
