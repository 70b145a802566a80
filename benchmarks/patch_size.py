"""Size of RST sparse patches vs. the COO format of the official code.

Builds RN50- and ViT-B-16-shaped visual encoders (open_clip, random init:
only the shapes matter), changes a random ``--density`` fraction of the
elements of every parameter tensor by a small random residual, and
measures in one run, per model and per tensor kind (2-D, 4-D, other, all):

* ours: a ``mmvlpuda.sparse`` patch (fp32 values, delta/varint positions)
  written with ``Patch.save``;
* COO: ``torch.save({name: (w - w0).to_sparse()})`` of the same tensors
  (the official RST release format);
* the information floor: 32 bits per value + log2 C(numel, nnz) bits for
  the set of positions of each tensor.

    python benchmarks/patch_size.py [--density 0.005] [--seed 0]
"""
import os

os.environ['HF_HUB_OFFLINE'] = '1'  # random init only: never download

import argparse  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os.path as osp  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

import mmvlpuda.models  # noqa: F401,E402  (registers the models)
from mmvlpuda.sparse import make_patch  # noqa: E402
from mmvlpuda.sparse.varint import encode_positions  # noqa: E402

MODELS = ('RN50', 'ViT-B-16')
GROUPS = ('2-D', '4-D', 'other', 'all')
TARGET_BYTES_PER_NNZ = 6.0
TARGET_RATIO = 3.0


def parse_args():
    parser = argparse.ArgumentParser(
        description='Sparse patch size vs. COO torch.save')
    parser.add_argument(
        '--density',
        type=float,
        default=0.005,
        help='fraction of the elements of each tensor that change')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--models', nargs='+', default=list(MODELS), help='open_clip models')
    args = parser.parse_args()
    if not 0 < args.density <= 1:
        parser.error('--density must be in (0, 1]')
    return args


def build_base(model_name):
    import open_clip
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # 'No pretrained weights loaded': intended
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            visual = open_clip.create_model(model_name, pretrained=None).visual
    finally:
        root.setLevel(level)
    return {
        n: p.detach().float().contiguous().clone()
        for n, p in visual.named_parameters()
    }


@torch.no_grad()
def perturb(base, density, generator):
    """Change ``density`` of each tensor's elements by a small residual."""
    trained = {}
    for name, w0 in base.items():
        numel = w0.numel()
        k = max(1, round(density * numel))
        pos = torch.randperm(numel, generator=generator)[:k]
        mag = 1e-4 + torch.randn(k, generator=generator).abs() * 1e-3
        sign = torch.randint(0, 2, (k, ), generator=generator) * 2 - 1
        w = w0.clone()
        w.view(-1)[pos] += sign * mag
        trained[name] = w
    return trained


def group_of(t):
    return {2: '2-D', 4: '4-D'}.get(t.dim(), 'other')


def log2_binomial(n, k):
    return (math.lgamma(n + 1) - math.lgamma(k + 1) -
            math.lgamma(n - k + 1)) / math.log(2)


def measure(model_name, base, trained, folder, density):
    rows = {}
    for group in GROUPS:
        names = [
            n for n in base if group == 'all' or group_of(base[n]) == group
        ]
        if not names:
            continue
        numel = sum(base[n].numel() for n in names)
        # ours
        patch = make_patch(
            trained,
            base,
            names=names,
            value_dtype='float32',
            arch=f'{model_name}/random',
            density=density)
        path = osp.join(folder, f'{model_name}-{group}.patch')
        patch.save(path)
        ours = osp.getsize(path)
        assert ours == patch.num_bytes
        nnz = patch.nnz
        pos_bytes = sum(
            encode_positions(e.positions.numpy()).size
            for e in patch.sparse.values())
        # official: COO residuals with torch.save
        coo = {n: (trained[n] - base[n]).to_sparse() for n in names}
        coo_nnz = sum(t._nnz() for t in coo.values())
        assert coo_nnz == nnz, (coo_nnz, nnz)
        coo_path = osp.join(folder, f'{model_name}-{group}.pth')
        torch.save(coo, coo_path)
        coo_bytes = osp.getsize(coo_path)
        del coo
        # information floor: 32 bits/value + entropy of the position sets
        floor_bits = sum(
            log2_binomial(base[n].numel(), int((trained[n] != base[n]).sum()))
            for n in names) + 32 * nnz
        rows[group] = dict(
            tensors=len(names),
            numel=numel,
            nnz=nnz,
            ours=ours,
            ours_per=ours / nnz,
            pos_per=pos_bytes / nnz,
            coo=coo_bytes,
            coo_per=coo_bytes / nnz,
            ratio=coo_bytes / ours,
            floor_per=floor_bits / 8 / nnz,
        )
        rows[group][
            'over_floor'] = rows[group]['ours_per'] / rows[group]['floor_per']
    return rows


def print_table(model_name, rows, density):
    print(f'\n### {model_name} visual (density {density:g}, fp32 values)\n')
    print('| tensors | # | numel | nnz | ours B | ours B/nnz | (pos B/nnz) '
          '| COO B | COO B/nnz | COO/ours | floor B/nnz | ours/floor |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for group, r in rows.items():
        print(f"| {group} | {r['tensors']} | {r['numel']:,} | {r['nnz']:,} "
              f"| {r['ours']:,} | {r['ours_per']:.2f} | {r['pos_per']:.2f} "
              f"| {r['coo']:,} | {r['coo_per']:.2f} | {r['ratio']:.2f}x "
              f"| {r['floor_per']:.2f} | {r['over_floor']:.3f} |")
    r = rows['all']
    ok_size = r['ours_per'] <= TARGET_BYTES_PER_NNZ
    ok_ratio = r['ratio'] >= TARGET_RATIO
    print(f"\ntarget ours <= {TARGET_BYTES_PER_NNZ:g} B/nnz: "
          f"{'HOLDS' if ok_size else 'FAILS'} ({r['ours_per']:.2f} B/nnz)")
    print(f"target ours >= {TARGET_RATIO:g}x smaller than COO: "
          f"{'HOLDS' if ok_ratio else 'FAILS'} ({r['ratio']:.2f}x)")
    return ok_size and ok_ratio


def main():
    args = parse_args()
    generator = torch.Generator().manual_seed(args.seed)
    all_ok = True
    start = time.time()
    with tempfile.TemporaryDirectory(prefix='patch-size-') as folder:
        for model_name in args.models:
            base = build_base(model_name)
            trained = perturb(base, args.density, generator)
            rows = measure(model_name, base, trained, folder, args.density)
            all_ok &= print_table(model_name, rows, args.density)
            del base, trained
    print(f"\nall targets {'hold' if all_ok else 'DO NOT hold'} "
          f'(seed {args.seed}, {time.time() - start:.0f} s)')
    return 0 if all_ok else 1


if __name__ == '__main__':
    sys.exit(main())
