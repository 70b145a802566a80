"""Write the Rare Class Sampling statistics of a dataset (DAFormer format).

    python tools/dataset_converters/rcs_stats.py DATA_ROOT \
        [--label-dir labels] [--suffix _labelTrainIds.png] \
        [--num-classes 19] [--nproc N] [--out-dir DIR]

Writes ``sample_class_stats.json`` and ``samples_with_class.json`` into
DATA_ROOT (or --out-dir). Cityscapes: ``--label-dir gtFine/train
--suffix _gtFine_labelTrainIds.png``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write RCS class statistics of train-id labels')
    parser.add_argument('data_root', help='dataset root')
    parser.add_argument(
        '--label-dir', default='labels', help='label folder under DATA_ROOT')
    parser.add_argument(
        '--suffix', default='_labelTrainIds.png', help='label file suffix')
    parser.add_argument('--num-classes', type=int, default=19)
    parser.add_argument('--nproc', type=int, default=1)
    parser.add_argument(
        '--out-dir', default=None, help='output folder (default DATA_ROOT)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmvlpuda.datasets.seg.rcs import write_rcs_stats
    try:
        paths = write_rcs_stats(args.data_root, args.label_dir, args.suffix,
                                args.num_classes, args.nproc, args.out_dir)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}')
    print('wrote ' + ' and '.join(paths))


if __name__ == '__main__':
    main()
