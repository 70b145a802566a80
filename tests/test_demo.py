"""`make demo` (tools/demo.py + tools/analysis/digits_runs.py): the three
real-digits configs (ImageNet EfficientNet-Lite0, prototype teacher) train
2 iterations each through tools/train.py and the table is printed."""
import os
import re
import subprocess
import sys

from conftest import REPO_ROOT


def test_demo_runs_three_configs_and_prints_the_table(tmp_path):
    proc = subprocess.run([
        sys.executable, 'tools/demo.py', '--iters', '2', '--work-dir',
        str(tmp_path)
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE='1'))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = re.findall(
        r'^\| (source-only|CMKD|CMKD\+RST \(budget 1%\)) \| ([0-9.]+)% \| '
        r'([0-9,]+) \| ([0-9,]+) \((RST patch|dense fp32)\) \| (\d+) s \|$',
        proc.stdout, re.M)
    assert [r[0]
            for r in rows] == ['source-only', 'CMKD', 'CMKD+RST (budget 1%)']
    acc, dsp, size = ({
        r[0]: float(r[i].replace(',', ''))
        for r in rows
    } for i in (1, 2, 3))
    assert all(0 <= a <= 100 for a in acc.values())
    # dense runs: every trainable parameter, 4 bytes each
    assert dsp['source-only'] == dsp['CMKD'] > 3e6
    assert size['CMKD'] == 4 * dsp['CMKD']
    # the RST artefact is a patch file on disk: at most 1 % of the backbone
    # (3,371,008 weights) + the dense task head (15,360), a few % of the
    # dense bytes even after 2 iterations
    rst = 'CMKD+RST (budget 1%)'
    assert 0 < dsp[rst] <= 33_710 + 15_360
    assert 0 < size[rst] < 0.05 * size['CMKD']
    ratio = re.search(
        r'RST patch = ([0-9.]+)% of the dense CMKD model\'s '
        r'bytes, at ([0-9.]+)% of its accuracy', proc.stdout)
    assert abs(float(ratio.group(1)) - 100 * size[rst] / size['CMKD']) < 0.01
    assert (tmp_path / 'digits_efflite0_cmkd_rst' / 'model.patch').is_file()
    assert 'iterations per run at 48 px' in proc.stdout
