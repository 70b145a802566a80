"""Train a model with an mmvlpuda config (mmpretrain-style arguments).

    python tools/train.py configs/cmkd/officehome_rn50.py \
        --cfg-options source_domain=Product target_domain=Clipart
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest '
        'checkpoint in the work dir if no path is given')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate during training')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. source_domain=Product '
        'model.backbone.arch=ViT-B-16')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    from mmvlpuda.utils.launch import setup_cpu_distributed
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    setup_cpu_distributed(cfg)
    return cfg


def resolve_resume(cfg, args):
    """``--resume``: the newest *readable* checkpoint of the work dir (a
    truncated newest one is skipped); ``--resume PATH``: PATH must be
    readable, else ``CheckpointError``. Returns the warnings to log (one
    line naming the skipped file(s) and the checkpoint used)."""
    from mmvlpuda.utils import check_checkpoint, find_resumable_checkpoint
    warnings = []
    if args.resume == 'auto':
        # None (nothing saved yet): mmengine starts from scratch
        cfg.load_from = find_resumable_checkpoint(
            cfg.work_dir, log=warnings.append)
    elif args.resume is not None:
        check_checkpoint(args.resume)
    return warnings


def main():
    args = parse_args()
    from mmvlpuda.utils.compat import apply_runtime_fixes
    apply_runtime_fixes()  # version-gated, each logged when applied
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from mmvlpuda.utils import CheckpointError, load_config
    from mmvlpuda.utils.config_refs import ConfigReferenceError
    try:
        cfg = merge_args(load_config(args.config, args.cfg_options), args)
    except ConfigReferenceError as e:
        raise SystemExit(f'{args.config}: {e.args[0]}')
    try:
        warnings = resolve_resume(cfg, args)
    except CheckpointError as e:
        raise SystemExit(str(e))
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    for message in warnings:  # in the run's log file too
        runner.logger.warning(message)
    try:
        runner.train()
    except FloatingPointError as e:
        # NonFiniteLossError (NonFiniteLossHook: iteration, loss terms, last
        # checkpoint) or RSTHook (a selected weight became NaN/Inf): one line,
        # exit status 1; nothing was saved from the bad state
        raise SystemExit(str(e))


if __name__ == '__main__':
    main()
