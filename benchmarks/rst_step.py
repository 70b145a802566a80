"""Time of one RST projection step on an RN50-size parameter set.

Compares, measured side by side in one process on the same tensors:
  * RSTHook.project (mmvlpuda: fused numba kernel on CPU),
  * the official code's style, per tensor
    ``mask = |w - w0| > tau; w = mask.float() * w + (~mask).float() * w0``,
  * eager ``torch.where`` per tensor,
  * one ``copy_`` of all parameters (memory-bandwidth reference; a fused
    single pass reads w and w0 and writes w, so 1.5x the copy is the floor).

    python benchmarks/rst_step.py [--threads 2] [--repeats 10]
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import open_clip  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from mmvlpuda.engine.hooks import RSTHook  # noqa: E402


def official_step(params, w0s, tau):
    for w, w0 in zip(params, w0s):
        mask = (w - w0).abs() > tau
        w.data = mask.float() * w + (~mask).float() * w0


def eager_where_step(params, w0s, tau):
    for w, w0 in zip(params, w0s):
        torch.where((w - w0).abs() <= tau, w0, w, out=w)


def copy_step(params, w0s, tau):
    for w, w0 in zip(params, w0s):
        w.copy_(w0)


def timed(fn, perturb, repeats):
    times = []
    for _ in range(repeats):
        perturb()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--tau', type=float, default=1e-5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ['NUMBA_NUM_THREADS'] = str(args.threads)

    model = nn.Module()
    model.backbone = open_clip.create_model('RN50').visual
    hook = RSTHook(tau=args.tau, include=('backbone', ))
    hook.setup(model)
    params = [p.data for _, p, _ in hook._entries]
    w0s = [w0 for _, _, w0 in hook._entries]
    numel = sum(p.numel() for p in params)
    gen = torch.Generator().manual_seed(0)
    noise = [torch.randn(p.shape, generator=gen) * 2 * args.tau
             for p in params]

    def perturb():  # an optimizer-step-like change of every weight
        with torch.no_grad():
            for p, n in zip(params, noise):
                p.add_(n)

    hook.project()  # compile/warm up the kernel
    results = {
        'mmvlpuda RSTHook.project': timed(hook.project, perturb,
                                          args.repeats),
        'official style (float masks)': timed(
            lambda: official_step(params, w0s, args.tau), perturb,
            args.repeats),
        'eager torch.where': timed(
            lambda: eager_where_step(params, w0s, args.tau), perturb,
            args.repeats),
        'copy_ of all params': timed(
            lambda: copy_step(params, w0s, args.tau), perturb, args.repeats),
    }
    ours = results['mmvlpuda RSTHook.project']
    copy = results['copy_ of all params']
    print(f'RN50 image tower: {len(params)} tensors, {numel:,} params, '
          f'{args.threads} threads, median of {args.repeats}\n')
    print('| step | ms | ratio to mmvlpuda | ratio to copy_ |')
    print('|---|---|---|---|')
    for name, ms in results.items():
        print(f'| {name} | {ms:.1f} | {ms / ours:.2f} | {ms / copy:.2f} |')
    speedup = results['official style (float masks)'] / ours
    print(f'\nofficial / mmvlpuda = {speedup:.1f}x (target >= 3x): '
          f'{"OK" if speedup >= 3 else "MISSED"}')
    print(f'mmvlpuda / copy_ = {ours / copy:.2f}x (target <= 2.5x): '
          f'{"OK" if ours / copy <= 2.5 else "MISSED"}')


if __name__ == '__main__':
    main()
