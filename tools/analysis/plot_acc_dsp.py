"""Accuracy vs domain-specific parameters of every method (paper Table VII,
Fig. 4).

    python tools/analysis/plot_acc_dsp.py RESULTS.jsonl OUT.png

RESULTS.jsonl: one JSON object per run with ``direction``, ``method``
(``source_only`` / ``cmkd`` / ``cmkd_rst`` / a PEFT method such as
``lora_r1``), ``acc`` (%), ``dsp`` and, for RST, ``density`` (budget
mode) or ``tau`` (threshold mode), as written by
``benchmarks/digits_evidence.py run``. One panel per direction, log-scale
DSP, mean ± std over seeds: one line over the RST budgets, one over the RST
thresholds, and every other method as a point at its own DSP.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
from collections import defaultdict

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmvlpuda.utils.atomic import atomic_write  # noqa: E402


def load_runs(path: str) -> list:
    if not osp.isfile(path):
        raise SystemExit(f'results file not found: {path}')
    runs = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                run = json.loads(line)
                run['acc'], run['dsp'], run['direction'], run['method']
            except (ValueError, KeyError) as e:
                raise SystemExit(f'{path}:{lineno}: not a result line ({e})')
            runs.append(run)
    if not runs:
        raise SystemExit(f'{path}: no results')
    return runs


def setting(run: dict):
    """``('density', d)``, ``('tau', t)`` or None (one configuration)."""
    if run.get('density') is not None:
        return ('density', run['density'])
    if run.get('tau') is not None:
        return ('tau', run['tau'])
    return None


def summarise(runs: list) -> dict:
    """``{direction: {(method, setting): (dsp, acc mean, acc std, n)}}``."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r['direction'], r['method'], setting(r))].append(r)
    out = defaultdict(dict)
    for (direction, method, key), rs in groups.items():
        accs = [r['acc'] for r in rs]
        out[direction][(method, key)] = (statistics.mean(r['dsp'] for r in rs),
                                         statistics.mean(accs),
                                         statistics.stdev(accs)
                                         if len(accs) > 1 else 0., len(accs))
    return out


SERIES = (('density', 'CMKD + RST (budget)', 'o', '{:.3g}%', 100.),
          ('tau', 'CMKD + RST (paper τ)', 'D', 'τ={:g}', 1.))
MARKERS = 's^vP*Xph<>'


def plot(summary: dict, out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    directions = sorted(summary)
    # one marker and colour per method, the same in every panel
    singles = sorted(
        {m
         for d in summary
         for m, key in summary[d] if key is None})
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    fig, axes = plt.subplots(
        1, len(directions), squeeze=False, figsize=(6 * len(directions), 4.5))
    for ax, direction in zip(axes[0], directions):
        points = summary[direction]
        for kind, label, marker, fmt, scale in SERIES:
            line = sorted((key[1], v) for (m, key), v in points.items()
                          if m == 'cmkd_rst' and key and key[0] == kind)
            if not line:
                continue
            ax.errorbar([v[0] for _, v in line], [v[1] for _, v in line],
                        yerr=[v[2] for _, v in line],
                        marker=marker,
                        capsize=3,
                        label=label)
            for x, v in line:
                ax.annotate(
                    fmt.format(x * scale), (v[0], v[1]),
                    textcoords='offset points',
                    xytext=(4, 4),
                    fontsize=7)
        for i, method in enumerate(singles):
            if (method, None) not in points:
                continue
            dsp, acc, std, _ = points[(method, None)]
            ax.errorbar([dsp], [acc],
                        yerr=[std],
                        marker=MARKERS[i % len(MARKERS)],
                        color=colours[(i + 2) % len(colours)],
                        capsize=3,
                        linestyle='none',
                        label=method.replace('_', ' '))
        ax.set_xscale('log')
        ax.set_xlabel('domain-specific parameters (DSP)')
        ax.set_ylabel('target test top-1 (%)')
        ax.set_title(direction)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format='png', dpi=120))
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results', help='results .jsonl')
    parser.add_argument('out', help='output PNG')
    args = parser.parse_args()
    plot(summarise(load_runs(args.results)), args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
