"""Convert GTA5 labels to Cityscapes train ids and write the RCS statistics.

    python tools/dataset_converters/gta.py DATA_ROOT [--nproc N]

Reads ``DATA_ROOT/labels/<name>.png`` (Cityscapes label ids, paletted or
grayscale), writes ``DATA_ROOT/labels/<name>_labelTrainIds.png`` and then
``DATA_ROOT/sample_class_stats.json`` + ``samples_with_class.json``.
Running it again gives the same files.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert GTA5 labels to train ids + RCS statistics')
    parser.add_argument('data_root', help='GTA root (images/, labels/)')
    parser.add_argument('--nproc', type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmvlpuda.datasets.seg.gta import TRAIN_ID_SUFFIX, convert_gta_labels
    from mmvlpuda.datasets.seg.rcs import write_rcs_stats
    try:
        written = convert_gta_labels(args.data_root, nproc=args.nproc)
        print(f'converted {len(written)} label files')
        paths = write_rcs_stats(
            args.data_root, 'labels', TRAIN_ID_SUFFIX, nproc=args.nproc)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}')
    print('wrote ' + ' and '.join(paths))


if __name__ == '__main__':
    main()
