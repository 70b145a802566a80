"""tools/analysis/plot_acc_dsp.py: accuracy vs DSP over tau (Fig. 4)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tools', 'analysis'))
from plot_acc_dsp import load_runs, plot, summarise  # noqa: E402


def _write(path, runs):
    with open(path, 'w') as f:
        for r in runs:
            f.write(json.dumps(r) + '\n')


def _runs():
    runs = []
    for seed, delta in enumerate((-1., 0., 1.)):
        for direction in ('mnist2uci', 'uci2mnist'):
            runs.append(
                dict(
                    direction=direction,
                    seed=seed,
                    method='source_only',
                    tau=None,
                    acc=70. + delta,
                    dsp=3_400_000))
            runs.append(
                dict(
                    direction=direction,
                    seed=seed,
                    method='cmkd',
                    tau=None,
                    acc=80. + delta,
                    dsp=3_400_000))
            for tau, dsp in ((1e-6, 3_000_000), (1e-4, 40_000)):
                runs.append(
                    dict(
                        direction=direction,
                        seed=seed,
                        method='cmkd_rst',
                        tau=tau,
                        acc=79. + delta,
                        dsp=dsp))
            for density, dsp in ((0.01, 50_000), (0.05, 180_000)):
                runs.append(
                    dict(
                        direction=direction,
                        seed=seed,
                        method='cmkd_rst',
                        tau=None,
                        density=density,
                        acc=78. + delta,
                        dsp=dsp))
            runs.append(
                dict(
                    direction=direction,
                    seed=seed,
                    method='lora_r1',
                    tau=None,
                    density=None,
                    acc=75. + delta,
                    dsp=38_000))
    return runs


def test_summary_is_mean_and_std_over_seeds(tmp_path):
    _write(tmp_path / 'r.jsonl', _runs())
    summary = summarise(load_runs(str(tmp_path / 'r.jsonl')))
    dsp, mean, std, n = summary['mnist2uci'][('cmkd_rst', ('tau', 1e-4))]
    assert (dsp, mean, n) == (40_000, 79., 3)
    assert std == pytest.approx(1.)
    assert summary['uci2mnist'][('cmkd_rst', ('density',
                                              0.05))][:2] == (180_000, 78.)
    assert summary['uci2mnist'][('lora_r1', None)][:2] == (38_000, 75.)
    assert set(summary) == {'mnist2uci', 'uci2mnist'}


def test_writes_a_png(tmp_path):
    _write(tmp_path / 'r.jsonl', _runs())
    out = tmp_path / 'fig' / 'acc_dsp.png'
    plot(summarise(load_runs(str(tmp_path / 'r.jsonl'))), str(out))
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert not [p for p in os.listdir(out.parent) if p != 'acc_dsp.png']


def test_bad_results_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / 'bad.jsonl'
    bad.write_text('{"acc": 1}\n')
    proc = subprocess.run([
        sys.executable, 'tools/analysis/plot_acc_dsp.py',
        str(bad),
        str(tmp_path / 'x.png')
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert f'{bad}:1: not a result line' in proc.stderr
    assert not (tmp_path / 'x.png').exists()
