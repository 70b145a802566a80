"""Accuracy vs domain-specific parameters over RST's tau (paper Fig. 4).

    python tools/analysis/plot_acc_dsp.py RESULTS.jsonl OUT.png

RESULTS.jsonl: one JSON object per run with ``direction``, ``method``
(``source_only`` / ``cmkd`` / ``cmkd_rst``), ``tau``, ``acc`` (%) and
``dsp`` (as written by ``benchmarks/digits_evidence.py run``). One panel
per direction: mean ± std over seeds of every RST tau (log-scale DSP), and
the dense CMKD and source-only runs at their own DSP.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
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


def summarise(runs: list) -> dict:
    """``{direction: {(method, tau): (dsp, acc mean, acc std, n)}}``."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r['direction'], r['method'], r.get('tau'))].append(r)
    out = defaultdict(dict)
    for (direction, method, tau), rs in groups.items():
        accs = [r['acc'] for r in rs]
        out[direction][(method, tau)] = (
            statistics.mean(r['dsp'] for r in rs), statistics.mean(accs),
            statistics.stdev(accs) if len(accs) > 1 else 0., len(accs))
    return out


def plot(summary: dict, out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    directions = sorted(summary)
    fig, axes = plt.subplots(1, len(directions), squeeze=False,
                             figsize=(5 * len(directions), 4))
    for ax, direction in zip(axes[0], directions):
        points = summary[direction]
        rst = sorted((tau, v) for (m, tau), v in points.items()
                     if m == 'cmkd_rst')
        if rst:
            xs = [v[0] for _, v in rst]
            ax.errorbar(xs, [v[1] for _, v in rst],
                        yerr=[v[2] for _, v in rst], marker='o',
                        capsize=3, label='CMKD + RST')
            for (tau, v) in rst:
                ax.annotate(f'τ={tau:g}', (v[0], v[1]),
                            textcoords='offset points', xytext=(4, 4),
                            fontsize=8)
        for method, style in (('cmkd', 's'), ('source_only', '^')):
            if (method, None) in points:
                dsp, acc, std, _ = points[(method, None)]
                ax.errorbar([dsp], [acc], yerr=[std], marker=style,
                            capsize=3, linestyle='none',
                            label=method.replace('_', '-'))
        ax.set_xscale('log')
        ax.set_xlabel('domain-specific parameters (DSP)')
        ax.set_ylabel('target test top-1 (%)')
        ax.set_title(direction)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
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
