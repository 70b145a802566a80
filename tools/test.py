"""Evaluate a checkpoint (or, for zero-shot configs, the model as built).

    python tools/test.py configs/cmkd/officehome_rn50.py \
        work_dirs/x/iter_10000.pth
    python tools/test.py configs/cmkd/officehome_rn50.py \
        --cfg-options model.predict_head=text    # CLIP zero-shot
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Test a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        default=None,
        help='checkpoint file (omit to test the model as built, e.g. '
        'zero-shot CLIP)')
    parser.add_argument(
        '--patch',
        help='apply this RST patch (tools/export_patch.py) to the model as '
        'built from the config (its pretrained base) and test that')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='dump predictions to this pickle file')
    parser.add_argument('--amp', action='store_true', help='mixed precision')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings')
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


def main():
    args = parse_args()
    from mmvlpuda.utils.compat import apply_runtime_fixes
    apply_runtime_fixes()  # version-gated, each logged when applied
    from mmengine.evaluator import DumpResults
    from mmengine.runner import Runner

    from mmvlpuda.utils import load_config
    from mmvlpuda.utils.config_refs import ConfigReferenceError
    from mmvlpuda.utils.launch import setup_cpu_distributed
    try:
        cfg = load_config(args.config, args.cfg_options)
    except ConfigReferenceError as e:
        raise SystemExit(f'{args.config}: {e.args[0]}')
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint}')
    if args.patch is not None and args.checkpoint is not None:
        raise SystemExit('give either a checkpoint or --patch, not both')
    if args.patch is None:
        cfg.load_from = args.checkpoint
    # with --patch, `load_from` (if the config sets it) is the pretrained
    # base the patch was made against, e.g. a segmentor checkpoint
    cfg.resume = False
    if args.amp:
        cfg.test_cfg.fp16 = True
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    if args.patch is not None:
        from mmvlpuda.engine.hooks import ApplyPatchHook
        runner.register_hook(ApplyPatchHook(args.patch), priority='VERY_LOW')
    if args.out is not None:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    runner.logger.info(f'test metrics: {metrics}')


if __name__ == '__main__':
    main()
