"""Time of one RST projection step on an RN50-size parameter set.

Compares, measured side by side in one process on the same tensors, on
``--device cpu`` or ``cuda``:
  * RSTHook.project, threshold mode (mmvlpuda: one fused numba pass over
    all tensors on CPU; on CUDA the torch path: a fixed number of
    whole-buffer ops, one host read),
  * RSTHook.project, budget mode at 1 % (CPU: exact top-k by a sample +
    one counting pass (or two histogram passes) + the projection pass,
    O(n), no sort; CUDA: one global ``torch.kthvalue``),
  * the same budget with ``torch.kthvalue`` on a flat copy of |w - w0|
    (a selection, what a plain-torch top-k RST would do),
  * the official code's style, per tensor
    ``mask = |w - w0| > tau; w = mask.float() * w + (~mask).float() * w0``,
  * eager ``torch.where`` per tensor (no count, no host sync),
  * one ``copy_`` per parameter (memory-bandwidth reference; a fused
    single pass reads w and w0 and writes w, so 1.5x the copy is the floor).

On CPU each row is measured twice in the same run: on a quiet machine and
while ``--contenders`` busy processes (default: one per core, as data-loader
workers in real training) compete for the cores (``--contenders 0``: quiet
only; always 0 on CUDA). CUDA times are wall times between two
``torch.cuda.synchronize()`` (what a training step waits for).

    python benchmarks/rst_step.py [--device cpu|cuda] [--threads 2]
        [--repeats 10] [--arch RN50] [--json out.json]
"""
import argparse
import json
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
        self.procs = [
            mp.Process(target=_burn, args=(self.stop, ), daemon=True)
            for _ in range(self.n)
        ]
        for p in self.procs:
            p.start()
        time.sleep(0.5)

    def __exit__(self, *exc):
        self.stop.set()
        for p in self.procs:
            p.join()


def timed(fn, perturb, repeats, sync):
    times = []
    for _ in range(repeats):
        perturb()
        sync()
        start = time.perf_counter()
        with torch.no_grad():
            fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


COPY = 'copy_ of all params'


def build(arch, device, tau, density):
    """The two hooks (same tensors, same w0) on ``arch``'s image tower."""
    model = nn.Module()
    model.backbone = open_clip.create_model(arch).visual.to(device)
    threshold = RSTHook(tau=tau, include=('backbone', ))
    threshold.setup(model)
    budget = RSTHook(
        mode='budget',
        density=density,
        density_start=density,
        include=('backbone', ))
    budget.setup(model)
    return threshold, budget


def steps(threshold, budget, args):
    params = [p for _, p, _ in threshold._entries]  # the Parameters
    w0s = [w0 for _, _, w0 in threshold._entries]
    pct = f'{100 * args.density:g}%'
    return params, w0s, {
        'RSTHook.project, threshold':
        threshold.project,
        f'RSTHook.project, budget {pct}':
        budget.project,
        f'torch.kthvalue budget {pct}':
        lambda: kthvalue_budget_step(params, w0s, args.density),
        'official style (float masks)':
        lambda: official_step(params, w0s, args.tau),
        'eager torch.where':
        lambda: eager_where_step(params, w0s, args.tau),
        COPY:
        lambda: copy_step(params, w0s, args.tau),
    }


def identical_to_official(threshold, params, w0s, tau, perturb):
    """RSTHook.project and the official formula give the same weights."""
    with torch.no_grad():
        start = [p.detach().clone() for p in params]
        perturb()
        threshold.project()
        ours = [p.detach().clone() for p in params]
        for p, s in zip(params, start):
            p.copy_(s)
        perturb()
        official_step(params, w0s, tau)
        return all(torch.equal(a, b) for a, b in zip(ours, params))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--arch', default='RN50')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--tau', type=float, default=1e-5)
    parser.add_argument('--density', type=float, default=0.01)
    parser.add_argument('--contenders', type=int, default=os.cpu_count())
    parser.add_argument('--json', help='also write the results here')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ['NUMBA_NUM_THREADS'] = str(args.threads)
    cuda = args.device == 'cuda'
    if cuda and not torch.cuda.is_available():
        raise SystemExit('rst_step.py: --device cuda but CUDA is not '
                         'available')
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    threshold, budget = build(args.arch, args.device, args.tau, args.density)
    params, w0s, fns = steps(threshold, budget, args)
    numel = sum(p.numel() for p in params)
    gen = torch.Generator(device=args.device).manual_seed(0)
    noise = [
        torch.randn(p.shape, generator=gen, device=args.device) * 2 * args.tau
        for p in params
    ]

    def perturb():  # an optimizer-step-like change of every weight
        with torch.no_grad():
            for p, n in zip(params, noise):
                p.add_(n)

    same = identical_to_official(threshold, params, w0s, args.tau, perturb)
    for fn in fns.values():  # compile / warm up
        perturb()
        with torch.no_grad():
            fn()
    columns = {
        'quiet': {
            name: timed(fn, perturb, args.repeats, sync)
            for name, fn in fns.items()
        }
    }
    if args.contenders and not cuda:
        with Contention(args.contenders):
            columns['loaded'] = {
                name: timed(fn, perturb, args.repeats, sync)
                for name, fn in fns.items()
            }
    report(args, columns, len(params), numel, same)


def report(args, columns, tensors, numel, same):
    where = (
        torch.cuda.get_device_name()
        if args.device == 'cuda' else f'{args.threads} threads')
    print(f'{args.arch} image tower on {args.device} ({where}): {tensors} '
          f'tensors, {numel:,} params, median of {args.repeats}' +
          (f'; "loaded": {args.contenders} busy processes compete for the '
           'cores' if 'loaded' in columns else '') + '\n')
    print(f'RSTHook.project == official style: {same}')
    print('| step | ' + ' | '.join(f'{c} ms | {c} / copy_'
                                   for c in columns) + ' |')
    print('|---|' + '---|---|' * len(columns))
    for name in columns['quiet']:
        print(f'| {name} | ' +
              ' | '.join(f'{res[name]:.2f} | {res[name] / res[COPY]:.2f}'
                         for res in columns.values()) + ' |')
    quiet = columns['quiet']
    ours = quiet['RSTHook.project, threshold']
    print(f'\nquiet: official / threshold = '
          f'{quiet["official style (float masks)"] / ours:.1f}x')
    for label, res in columns.items():
        for name in list(res)[:2]:
            print(f'{label}: {name} / copy_ = {res[name] / res[COPY]:.2f}x')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    device=args.device,
                    arch=args.arch,
                    tensors=tensors,
                    numel=numel,
                    identical=same,
                    **columns),
                f,
                indent=1)


if __name__ == '__main__':
    main()
