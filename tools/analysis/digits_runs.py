"""Train + evaluate one digits config and report accuracy, DSP and bytes.

Shared by ``tools/demo.py`` (``make demo``) and
``benchmarks/digits_evidence.py``. Each run is a real ``tools/train.py``
subprocess (MMEngine Runner, progress/ETA logging); RST runs are exported
with ``tools/export_patch.py`` and the patch file size is measured.
"""
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(args: Sequence[str], echo=('Iter(', 'accuracy', 'Error')) -> str:
    """Run a command from the repository root; echo matching lines."""
    print('$', ' '.join(args), flush=True)
    proc = subprocess.Popen(
        list(args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, HF_HUB_OFFLINE='1'))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if any(key in line for key in echo):
            print(line, end='', flush=True)
    if proc.wait() != 0:
        sys.stdout.write(''.join(lines[-40:]))
        raise SystemExit(f'command failed: {" ".join(args)}')
    return ''.join(lines)


def _last(pattern: str, log: str) -> Optional[float]:
    found = re.findall(pattern, log)
    return float(found[-1]) if found else None


def dense_parameter_count(config: str, cfg_options: Sequence[str]) -> int:
    """Trainable parameters of the model a config builds (the DSP of a run
    that fine-tunes everything)."""
    sys.path.insert(0, ROOT)
    from mmengine.config import DictAction

    import mmvlpuda  # noqa: F401
    from mmvlpuda.registry import MODELS
    from mmvlpuda.utils import load_config, register_all_modules
    register_all_modules(init_default_scope=True)
    options = {
        key: DictAction._parse_iterable(value)
        for key, value in (o.split('=', 1) for o in cfg_options)
    }
    cfg = load_config(osp.join(ROOT, config), options)
    model = MODELS.build(cfg.model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_and_evaluate(config: str,
                       work_dir: str,
                       cfg_options: Sequence[str] = ()) -> Dict:
    """Train ``config`` (validation at the end) and measure the result.

    Returns:
        dict: ``acc`` (top-1 % of the config's val split), ``dsp``
        (domain-specific parameters), ``bytes`` (RST patch file size, or
        4 B x DSP for a dense fp32 fine-tune), ``seconds`` (train wall
        time incl. the final evaluation), ``patch`` (path or None).
    """
    start = time.time()
    options = list(cfg_options)
    log = run(
        [sys.executable, 'tools/train.py', config, '--work-dir', work_dir] +
        (['--cfg-options', *options] if options else []))
    seconds = time.time() - start
    acc = _last(r'accuracy/top1: ([0-9.]+)', log)
    if acc is None:
        raise SystemExit(f'no accuracy in the log of {config}')
    with open(osp.join(ROOT, work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    result = dict(acc=acc, seconds=seconds, checkpoint=ckpt, patch=None)
    if 'RSTHook: ' not in log:  # no RSTHook
        result['dsp'] = dense_parameter_count(config, options)
        result['bytes'] = 4 * result['dsp']
        return result
    patch = osp.join(work_dir, 'model.patch')
    out = run(
        [sys.executable, 'tools/export_patch.py', ckpt, 'from-ckpt', patch],
        echo=('wrote', ))
    result['dsp'] = int(
        re.findall(r'DSP [0-9.]+M \(([0-9,]+) parameters',
                   out)[-1].replace(',', ''))
    result['bytes'] = osp.getsize(osp.join(ROOT, patch))
    result['patch'] = patch
    return result
