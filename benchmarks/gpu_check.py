"""One-call GPU check: the benchmarks and a short real-size training of one
config per family, summarised in one table.

Steps (each a subprocess with its own timeout, clipped to ``--budget-s``;
a failing step is reported, never aborts the rest):

  rst_step      benchmarks/rst_step.py: RSTHook.project (threshold, budget)
                vs torch.kthvalue, the official style and copy_, RN50
  train_step    benchmarks/train_step.py: CMKD train step vs the official
                style, RN50 8+8
  data          benchmarks/gpu_check_data.py: Office-Home / Cityscapes /
                GTA5 / ACDC trees in the real layouts (in the background
                while the benchmarks run)
  cls_cmkd_rn50, cls_rst_vitb16, seg_dlv2_rst_c1, seg_m2f_cmkd_rst
                tools/train.py on configs/cmkd/officehome_rn50.py,
                configs/rst/officehome_vitb16.py,
                configs/seg/gta2cs_dlv2_rst_c1.py,
                configs/seg/cs2acdc_m2f_cmkd_rst.py (random init, the
                configs' real crops and batches, a few iterations)

``--quick``: tiny models, images and iterations (a CPU dry run of the
whole pipeline: ``--device cpu --quick``). Writes ``OUT/gpu_check.log``,
``OUT/summary.md``, ``OUT/results.json`` and the step logs.

    python benchmarks/gpu_check.py --device cuda --out OUT
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gc
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, NamedTuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path[:0] = [ROOT, osp.join(ROOT, 'tests'), osp.join(ROOT, 'benchmarks')]

TRAININGS = ('cls_cmkd_rn50', 'cls_rst_vitb16', 'seg_dlv2_rst_c1',
             'seg_m2f_cmkd_rst')
STEPS = ('rst_step', 'train_step', 'data') + TRAININGS
CONFIGS = dict(
    cls_cmkd_rn50='configs/cmkd/officehome_rn50.py',
    cls_rst_vitb16='configs/rst/officehome_vitb16.py',
    seg_dlv2_rst_c1='configs/seg/gta2cs_dlv2_rst_c1.py',
    seg_m2f_cmkd_rst='configs/seg/cs2acdc_m2f_cmkd_rst.py')
TINY_ARCH = dict(
    cls_cmkd_rn50='mmvlpuda-tiny-rn', cls_rst_vitb16='mmvlpuda-tiny-vit')
# (timeout s, full run) / (timeout s, quick run)
TIMEOUTS = dict(
    rst_step=(60, 120),
    train_step=(90, 240),
    data=(150, 120),
    cls_cmkd_rn50=(90, 240),
    cls_rst_vitb16=(70, 240),
    seg_dlv2_rst_c1=(90, 300),
    seg_m2f_cmkd_rst=(80, 300))


class Step(NamedTuple):
    name: str
    cmd: List[str]
    timeout: int
    options: Dict[str, object] = {}  # training: the --cfg-options


def training_options(name: str, data: str, iters: int, quick: bool) -> dict:
    """The --cfg-options of one training run: generated data, random init,
    ``iters`` iterations logged every one (tiny models when ``quick``)."""
    common = {
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': iters,
        'default_hooks.logger.interval': 1,
        'log_processor.window_size': 1
    }
    workers = 0 if quick else 8
    for loader in ('train_dataloader', 'val_dataloader'):
        common[f'{loader}.num_workers'] = workers
        common[f'{loader}.persistent_workers'] = not quick
    if name.startswith('cls'):
        opts = {
            'data_root': osp.join(data, 'office_home'),
            'model.backbone.pretrained': None
        }
        if quick:
            opts.update({
                'arch': TINY_ARCH[name],
                'model.backbone.image_size': 224,
                'train_dataloader.batch_size': 2,
                'val_dataloader.batch_size': 8
            })
        return {**opts, **common}
    from seg_data import TINY_DLV2, TINY_M2F
    roots = {'cityscapes_root': osp.join(data, 'cityscapes')}
    if name == 'seg_dlv2_rst_c1':
        roots.update({
            'gta_root': osp.join(data, 'gta'),
            'segmentor.pretrained': None
        })
        tiny = TINY_DLV2
    else:
        roots.update({
            'acdc_root': osp.join(data, 'acdc'),
            'segmentor.backbone.init_cfg': None
        })
        tiny = TINY_M2F
    # a rare-class block of the generated trees has 64 pixels
    opts = {**roots, 'rcs.min_pixels': 20, **common}
    return {**tiny, **opts} if quick else opts


def plan(args) -> List[Step]:
    """The commands of every step, in order."""
    from seg_data import cli_options  # --cfg-options strings of a dict
    py, out, quick = sys.executable, args.out, args.quick
    data = osp.join(out, 'data')
    steps = [
        Step('rst_step', [
            py, 'benchmarks/rst_step.py', '--device', args.device,
            '--contenders', '0', '--repeats', '3' if quick else '20', '--json',
            osp.join(out, 'rst_step.json')
        ] + (['--arch', 'mmvlpuda-tiny-rn'] if quick else []), 0),
        Step('train_step', [
            py, 'benchmarks/train_step.py', '--device', args.device,
            '--models', 'tiny' if quick else 'rn50', '--iters',
            '1' if quick else '20', '--rounds', '1', '--json',
            osp.join(out, 'train_step.json')
        ], 0),
        Step('data', [py, 'benchmarks/gpu_check_data.py', data] +
             (['--quick'] if quick else []), 0),
    ]
    iters = dict(cls=2 if quick else 60, seg=2 if quick else 20)
    for name in TRAININGS:
        opts = training_options(name, data, iters[name[:3]], quick)
        cmd = [
            py, 'tools/train.py', CONFIGS[name], '--work-dir',
            osp.join(out, 'work', name)
        ] + (['--amp'] if args.amp else []) + ['--cfg-options'
                                               ] + cli_options(opts)
        steps.append(Step(name, cmd, 0, opts))
    return [
        s._replace(timeout=TIMEOUTS[s.name][int(quick)]) for s in steps
        if not args.only or s.name in args.only
    ]


class Runner:
    """Runs steps with timeouts inside one wall-clock budget; logs all."""

    def __init__(self, out: str, budget_s: float):
        self.out, self.deadline = out, time.time() + budget_s
        self.log = open(osp.join(out, 'gpu_check.log'), 'a')
        self.results: List[dict] = []
        self.env = dict(
            os.environ,
            HF_HUB_OFFLINE='1',
            PYTHONUNBUFFERED='1',
            PYTHONWARNINGS='ignore::FutureWarning')

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + '\n')
        self.log.flush()

    def start(self, step: Step):
        """Start ``step`` in the background; returns (process, log path,
        start time) or None when the budget is spent."""
        left = self.deadline - time.time() - 10
        if left < 15:
            self.say(f'=== {step.name}: SKIPPED (budget, {left:.0f}s left)')
            self.results.append(dict(step=step.name, rc='skip', wall_s=0))
            return None
        timeout = int(min(step.timeout, left))
        self.say(f'=== {step.name} (timeout {timeout}s): {" ".join(step.cmd)}')
        path = osp.join(self.out, f'{step.name}.log')
        proc = subprocess.Popen(
            ['timeout', '-k', '10', str(timeout)] + step.cmd,
            cwd=ROOT,
            env=self.env,
            stdout=open(path, 'w'),
            stderr=subprocess.STDOUT)
        return proc, path, time.time()

    def finish(self, step: Step, started) -> None:
        if started is None:
            return
        proc, path, t0 = started
        rc = proc.wait()
        wall = time.time() - t0
        with open(path, errors='replace') as f:
            tail = f.read()[-4000:]
        self.log.write(tail + '\n')
        self.say(f'--- {step.name}: rc={rc} wall={wall:.1f}s')
        self.results.append(
            dict(step=step.name, rc=rc, wall_s=round(wall, 1), log=path))

    def run(self, step: Step) -> None:
        self.finish(step, self.start(step))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny models/images/iterations (dry run)')
    parser.add_argument('--out', default='work_dirs/gpu_check')
    parser.add_argument(
        '--only', nargs='+', choices=STEPS, help='run only these steps')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='train with --amp (AmpOptimWrapper)')
    parser.add_argument(
        '--budget-s',
        type=float,
        default=555,
        help='wall-clock budget of the whole check')
    parser.add_argument(
        '--list', action='store_true', help='print the commands and exit')
    args = parser.parse_args(argv)
    args.out = osp.abspath(args.out)
    steps = plan(args)
    if args.list:
        for step in steps:
            print(f'{step.name}: {" ".join(step.cmd)}')
        return 0
    os.makedirs(args.out, exist_ok=True)
    runner = Runner(args.out, args.budget_s)
    runner.say(f'mmvlpuda gpu check: device={args.device} quick='
               f'{args.quick} out={args.out}')
    by_name = {s.name: s for s in steps}
    data = runner.start(by_name['data']) if 'data' in by_name else None
    for name in ('rst_step', 'train_step'):
        if name in by_name:
            runner.run(by_name[name])
    if data is not None:
        runner.finish(by_name['data'], data)
    for step in steps:
        if step.name in TRAININGS:
            runner.run(step)
    from gpu_check_summary import summarize
    table = summarize(args.out, runner.results)
    runner.say('\n' + table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
