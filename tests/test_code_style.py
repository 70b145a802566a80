"""The code passes the style checks of setup.cfg (as mmpretrain's
pre-commit: flake8, isort, yapf)."""
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

PATHS = [
    'mmvlpuda', 'tools', 'tests', 'benchmarks', 'configs', 'projects',
    'setup.py'
]


def _tool(module, *args):
    res = subprocess.run([sys.executable, '-m', module, *args, *PATHS],
                         cwd=REPO_ROOT,
                         capture_output=True,
                         text=True,
                         timeout=600,
                         env=dict(os.environ, PYTHONWARNINGS='ignore'))
    return res.returncode, (res.stdout + res.stderr)[-3000:]


@pytest.mark.parametrize(
    'module,args', [
        ('flake8', ()),
        ('isort', ('--check-only', '--diff')),
        ('yapf', ('--diff', '--recursive')),
    ],
    ids=['flake8', 'isort', 'yapf'])
def test_style(module, args):
    rc, out = _tool(module, *args)
    assert rc == 0, out
