"""The one table of ``gpu_check.py``: ms/iter, peak memory, RST vs copy_.

``summarize(out, results)`` reads ``OUT/rst_step.json``,
``OUT/train_step.json`` and the training logs named in ``results`` (one
dict per step: ``step``, ``rc``, ``wall_s``, ``log``), writes
``OUT/summary.md`` and ``OUT/results.json`` and returns the table. Never
raises on a missing or unparsable file: the row says so.
"""
import json
import os.path as osp
import re
import statistics
from typing import List, Optional

ITER = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/\s*(\d+)\]')
NUM = r'([-+0-9.eE]+|nan|inf)'


def _value(key: str, line: str) -> Optional[float]:
    m = re.search(r'\b' + re.escape(key) + r':\s*' + NUM, line)
    return float(m.group(1)) if m else None


def parse_training_log(text: str) -> dict:
    """Median iteration time (ms; the first, warm-up, iteration dropped when
    there are more), peak memory (MB, CUDA runs), last loss and RST density
    of mmengine's ``Iter(train)`` lines; the last error line if any."""
    lines = [ln for ln in text.splitlines() if ITER.search(ln)]
    times = [_value('time', ln) for ln in lines]
    times = [t for t in times if t is not None]
    mem = [m for m in (_value('memory', ln) for ln in lines) if m]
    res = dict(iters=len(lines))
    if times:
        res['ms_iter'] = 1e3 * statistics.median(times[1:] or times)
    if mem:
        res['peak_mb'] = max(mem)
    for key in ('loss', 'rst_density'):
        vals = [v for v in (_value(key, ln) for ln in lines) if v is not None]
        if vals:
            res[key] = vals[-1]
    errors = [
        ln.strip() for ln in text.splitlines()
        if re.match(r'^\s*(\w+\.)*\w*(Error|Exception)\b', ln)
    ]
    if errors:
        res['error'] = errors[-1][:200]
    return res


def _load(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rst_row(out: str) -> str:
    data = _load(osp.join(out, 'rst_step.json'))
    if data is None:
        return '| rst_step | - | - | no rst_step.json |'
    q = data['quiet']
    thr, bud, copy = (q['RSTHook.project, threshold'],
                      next(v for k, v in q.items()
                           if 'RSTHook' in k and 'budget' in k),
                      q['copy_ of all params'])
    off = q['official style (float masks)']
    return (f'| rst_step ({data["arch"]}, {data["tensors"]} tensors) | '
            f'{thr:.2f} | - | threshold {thr / copy:.2f}x copy_, budget '
            f'{bud:.2f} ms ({bud / copy:.2f}x), official style {off:.2f} ms, '
            f'copy_ {copy:.2f} ms, identical={data["identical"]} |')


def train_step_rows(out: str) -> List[str]:
    data = _load(osp.join(out, 'train_step.json'))
    if data is None:
        return ['| train_step | - | - | no train_step.json |']
    rows = []
    for name, r in data['models'].items():
        ms, mem, reads = r['ms'], r['mem_mb'], r['host_reads']
        rows.append(
            f'| train_step {name} | {ms["ours"]:.1f} | {mem["ours"]:.0f} | '
            f'official style {ms["official"]:.1f} ms '
            f'({ms["ours"] / ms["official"]:.3f}x), {mem["official"]:.0f} '
            f'MB; host reads/step {reads["ours"]} vs {reads["official"]} |')
    return rows


def training_row(result: dict) -> str:
    name, rc = result['step'], result['rc']
    if rc == 'skip':
        return f'| {name} | - | - | skipped (budget) |'
    try:
        with open(result['log'], errors='replace') as f:
            figs = parse_training_log(f.read())
    except OSError:
        figs = {}
    notes = [
        f'rc={rc}', f'wall {result["wall_s"]}s',
        f'{figs.get("iters", 0)} iters logged'
    ]
    notes += [f'{k}={figs[k]:g}' for k in ('loss', 'rst_density') if k in figs]
    if rc != 0 and 'error' in figs:
        notes.append(figs['error'])
    ms = f'{figs["ms_iter"]:.0f}' if 'ms_iter' in figs else '-'
    mem = f'{figs["peak_mb"]:.0f}' if 'peak_mb' in figs else '-'
    return f'| {name} | {ms} | {mem} | {"; ".join(notes)} |'


def summarize(out: str, results: List[dict]) -> str:
    """Write summary.md / results.json under ``out``; return the table."""
    ran = {r['step'] for r in results}
    rows = ['| step | ms/iter | peak MB | notes |', '|---|---|---|---|']
    if 'rst_step' in ran:
        rows.append(rst_row(out))
    if 'train_step' in ran:
        rows += train_step_rows(out)
    rows += [
        training_row(r) for r in results
        if r['step'] not in ('rst_step', 'train_step', 'data')
    ]
    for r in results:
        if r['step'] == 'data':
            rows.append(f'| data | - | - | rc={r["rc"]}, wall '
                        f'{r["wall_s"]}s |')
    table = '\n'.join(rows)
    with open(osp.join(out, 'summary.md'), 'w') as f:
        f.write('# mmvlpuda GPU check\n\n' + table + '\n')
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    return table
