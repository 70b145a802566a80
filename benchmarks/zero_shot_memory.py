"""Memory of the CMKD classifier with CLIP's text tower released vs kept.

``TextZeroShotHead`` encodes the class prompts once at build time and then
drops the text tower, keeping only the ``(num_classes, dim)`` embeddings.
This measures what that saves, side by side in one run, for each
architecture: tensor bytes held by the model (exact) and the resident-set
growth of a fresh worker process once the model is built (steady state;
CPU) or CUDA allocated memory.

    python benchmarks/zero_shot_memory.py [--archs RN50 ViT-B-16]

``kept`` = the same classifier plus the text tower modules the official
code keeps alive (transformer, token/positional embeddings, final LN,
text projection) — random init, nothing is downloaded.
"""
import argparse
import gc
import json
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from train_step import rss_mb, run_worker  # noqa: E402

TEXT_PARTS = ('transformer', 'token_embedding', 'ln_final')
TEXT_PARAMS = ('positional_embedding', 'text_projection')


def tensor_bytes(module) -> int:
    return sum(t.numel() * t.element_size()
               for t in list(module.parameters()) + list(module.buffers()))


def worker(variant: str, arch: str, device: str) -> None:
    import open_clip
    import torch
    import torch.nn as nn

    import mmvlpuda  # noqa: F401
    from mmvlpuda.registry import MODELS
    from mmvlpuda.utils import load_config, register_all_modules
    register_all_modules(init_default_scope=True)
    base = rss_mb()
    cfg = load_config(
        osp.join(ROOT, 'configs/cmkd/officehome_rn50.py'), {
            'arch': arch,
            'model.backbone.pretrained': None
        })
    model = MODELS.build(cfg.model).to(device)
    kept = None
    if variant == 'kept':
        clip = open_clip.create_model(arch, pretrained=None)
        kept = nn.Module()
        for name in TEXT_PARTS:
            kept.add_module(name, getattr(clip, name))
        for name in TEXT_PARAMS:
            kept.register_parameter(name, getattr(clip, name))
        del clip
        kept.to(device)
    held = tensor_bytes(model) + (tensor_bytes(kept) if kept else 0)
    gc.collect()  # steady state after building (build-time peaks are alike)
    mem = (
        torch.cuda.memory_allocated() /
        2**20 if device.startswith('cuda') else rss_mb() - base)
    print(json.dumps(dict(tensor_mb=held / 2**20, process_mb=mem)))


def measure(variant, arch, device):
    return run_worker(__file__, variant, '--archs', arch, '--device', device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--archs', nargs='+', default=['RN50', 'ViT-B-16'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--worker', choices=['released', 'kept'])
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.archs[0], args.device)
    print('| arch | released: tensors MB | kept: tensors MB | ratio | '
          'released: process MB | kept: process MB | ratio |')
    print('|---|---|---|---|---|---|---|')
    for arch in args.archs:
        r = measure('released', arch, args.device)
        k = measure('kept', arch, args.device)
        print(
            f'| {arch} | {r["tensor_mb"]:.0f} | {k["tensor_mb"]:.0f} | '
            f'{r["tensor_mb"] / k["tensor_mb"]:.3f}x | '
            f'{r["process_mb"]:.0f} | {k["process_mb"]:.0f} | '
            f'{r["process_mb"] / k["process_mb"]:.3f}x |',
            flush=True)


if __name__ == '__main__':
    main()
