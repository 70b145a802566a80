"""Time of one RST projection step on an RN50-size parameter set.

Compares, measured side by side in one process on the same tensors:
  * RSTHook.project, threshold mode (mmvlpuda: one fused numba pass over
    all tensors on CPU),
  * RSTHook.project, budget mode at 1 % (exact top-k by two histogram
    passes + the projection pass, O(n), no sort),
  * the same budget with ``torch.kthvalue`` on a flat copy of |w - w0|
    (a selection, what a plain-torch top-k RST would do),
  * the official code's style, per tensor
    ``mask = |w - w0| > tau; w = mask.float() * w + (~mask).float() * w0``,
  * eager ``torch.where`` per tensor,
  * one ``copy_`` of all parameters (memory-bandwidth reference; a fused
    single pass reads w and w0 and writes w, so 1.5x the copy is the floor).

Each row is measured twice in the same run: on a quiet machine and while
``--contenders`` busy processes (default: one per core, as data-loader
workers in real training) compete for the cores.

    python benchmarks/rst_step.py [--threads 2] [--repeats 10]
"""
import argparse
import multiprocessing as mp
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


def kthvalue_budget_step(params, w0s, density):
    flat = torch.cat([(w - w0).abs().view(-1) for w, w0 in zip(params, w0s)])
    keep = int(density * flat.numel())
    tau = torch.kthvalue(flat, flat.numel() - keep).values
    for w, w0 in zip(params, w0s):
        torch.where((w - w0).abs() <= tau, w0, w, out=w)


def _burn(stop):
    x = 0
    while not stop.is_set():
        for i in range(100000):
            x += i * i


class Contention:
    """``n`` busy processes for the duration of a ``with`` block."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.stop = mp.Event()
        self.procs = [mp.Process(target=_burn, args=(self.stop, ), daemon=True)
                      for _ in range(self.n)]
        for p in self.procs:
            p.start()
        time.sleep(0.5)

    def __exit__(self, *exc):
        self.stop.set()
        for p in self.procs:
            p.join()


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
    parser.add_argument('--density', type=float, default=0.01)
    parser.add_argument('--contenders', type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ['NUMBA_NUM_THREADS'] = str(args.threads)

    model = nn.Module()
    model.backbone = open_clip.create_model('RN50').visual
    threshold = RSTHook(tau=args.tau, include=('backbone', ))
    threshold.setup(model)
    budget = RSTHook(mode='budget', density=args.density, density_start=
                     args.density, include=('backbone', ))
    budget.setup(model)  # same tensors and w0 as `threshold`
    params = [p.data for _, p, _ in threshold._entries]
    w0s = [w0 for _, _, w0 in threshold._entries]
    numel = sum(p.numel() for p in params)
    gen = torch.Generator().manual_seed(0)
    noise = [torch.randn(p.shape, generator=gen) * 2 * args.tau
             for p in params]

    def perturb():  # an optimizer-step-like change of every weight
        with torch.no_grad():
            for p, n in zip(params, noise):
                p.add_(n)

    steps = {
        'RSTHook.project, threshold': threshold.project,
        f'RSTHook.project, budget {100 * args.density:g}%': budget.project,
        f'torch.kthvalue budget {100 * args.density:g}%':
        lambda: kthvalue_budget_step(params, w0s, args.density),
        'official style (float masks)':
        lambda: official_step(params, w0s, args.tau),
        'eager torch.where': lambda: eager_where_step(params, w0s, args.tau),
        'copy_ of all params': lambda: copy_step(params, w0s, args.tau),
    }
    threshold.project()  # compile/warm up the kernels
    budget.project()
    quiet = {name: timed(fn, perturb, args.repeats)
             for name, fn in steps.items()}
    with Contention(args.contenders):
        loaded = {name: timed(fn, perturb, args.repeats)
                  for name, fn in steps.items()}
    print(f'RN50 image tower: {len(params)} tensors, {numel:,} params, '
          f'{args.threads} threads, median of {args.repeats}; "loaded": '
          f'{args.contenders} busy processes compete for the cores\n')
    print('| step | quiet ms | quiet / copy_ | loaded ms | loaded / copy_ |')
    print('|---|---|---|---|---|')
    for name in steps:
        print(f'| {name} | {quiet[name]:.1f} | '
              f'{quiet[name] / quiet["copy_ of all params"]:.2f} | '
              f'{loaded[name]:.1f} | '
              f'{loaded[name] / loaded["copy_ of all params"]:.2f} |')
    ours = quiet['RSTHook.project, threshold']
    speedup = quiet['official style (float masks)'] / ours
    print(f'\nquiet: official / threshold = {speedup:.1f}x (target >= 3x)')
    for label, res in (('quiet', quiet), ('loaded', loaded)):
        for name in list(steps)[:2]:
            print(f'{label}: {name} / copy_ = '
                  f'{res[name] / res["copy_ of all params"]:.2f}x')


if __name__ == '__main__':
    main()
