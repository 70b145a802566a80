"""Export the sparse RST residual of a trained checkpoint as a patch file.

    python tools/export_patch.py CKPT BASE OUT [--dense task_head] \
        [--value-dtype float16]

CKPT  mmengine checkpoint of an RST run (or any fine-tuned checkpoint).
BASE  the pretrained base weights: a state dict / checkpoint file, or
      ``from-ckpt`` to use the w0 that RSTHook records inside CKPT.
OUT   patch file to write (atomically), e.g. work_dirs/art2clipart.patch.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args():
    parser = argparse.ArgumentParser(description='Export an RST patch')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument('base', help="base weights file or 'from-ckpt'")
    parser.add_argument('out', help='output patch file')
    parser.add_argument(
        '--dense',
        nargs='*',
        default=None,
        help='name prefixes stored whole (default: the dense trainable '
        'tensors recorded by RSTHook, else task_head)')
    parser.add_argument('--arch', default=None, help='base model identity')
    parser.add_argument(
        '--value-dtype',
        default='float32',
        choices=['float32', 'float16', 'bfloat16'],
        help='residual value precision (float32 is bit-exact)')
    return parser.parse_args()


def torch_load(path: str, what: str):
    """``torch.load`` with a one-line error for a missing or damaged file."""
    import torch

    from mmvlpuda.utils.resume import describe_load_error
    if not osp.isfile(path):
        raise SystemExit(f'{what} not found: {path}')
    try:
        return torch.load(path, map_location='cpu', weights_only=False)
    except Exception as e:  # noqa: BLE001 - truncated / not a torch file
        raise SystemExit(f'cannot read {what} {path} '
                         f'({describe_load_error(e)})')


def load_state(path: str) -> dict:
    state = torch_load(path, 'file')
    return state.get('state_dict', state) if isinstance(state, dict) else {}


def main():
    args = parse_args()
    from mmvlpuda.sparse import PatchError, patch_from_checkpoint
    from mmvlpuda.sparse.checkpoint import RST_KEY
    ckpt = torch_load(args.checkpoint, 'checkpoint')
    if args.base == 'from-ckpt' and RST_KEY not in ckpt:
        raise SystemExit(f'{args.checkpoint} has no RST w0 (not '
                         'trained with RSTHook): pass the base weights')
    base = None if args.base == 'from-ckpt' else load_state(args.base)
    try:
        # NaN/Inf in a selected, dense or base tensor: PatchError naming it,
        # and nothing is written (save is atomic and refuses it too)
        patch = patch_from_checkpoint(
            ckpt,
            base,
            dense=args.dense,
            value_dtype=args.value_dtype,
            arch=args.arch or ckpt.get('meta', {}).get('exp_name', ''),
            source_checkpoint=osp.basename(args.checkpoint))
        patch.save(args.out)
    except PatchError as e:
        raise SystemExit(f'{args.checkpoint}: {e}')
    print(f'wrote {args.out}: {patch.nnz:,} residual nonzeros, DSP '
          f'{patch.dsp / 1e6:.4f}M ({patch.dsp:,} parameters), '
          f'{patch.num_bytes:,} bytes '
          f'({patch.num_bytes / max(patch.nnz, 1):.2f} B/nnz)')


if __name__ == '__main__':
    main()
