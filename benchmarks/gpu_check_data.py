"""Generated data trees in the real layouts, for ``gpu_check.py``.

Writes under ROOT, with random pixels:
  office_home/  Office-Home folders (Art, Clipart; the 65 classes of the
                configs), ``--per-class`` JPEGs per class
  cityscapes/, gta/, acdc/, acdc_flat/
                the trees of ``tests/seg_data.py`` (Cityscapes, GTA5 with
                converted labels and RCS statistics, ACDC), at Cityscapes'
                real 1024x2048 (``--quick``: 64x128, what the tests use)

    python benchmarks/gpu_check_data.py ROOT [--quick]
"""
import argparse
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path[:0] = [ROOT, osp.join(ROOT, 'tests')]

OFFICE_HOME_CONFIG = 'configs/cmkd/officehome_rn50.py'
REAL = dict(office_size=256, per_class=3, seg_hw=(1024, 2048))
QUICK = dict(office_size=24, per_class=1, seg_hw=(64, 128))


def make_office_home(root: str, size: int, per_class: int) -> int:
    """Art and Clipart class folders of random JPEGs; returns the count."""
    import numpy as np
    from PIL import Image

    from mmvlpuda.utils import load_config
    classes = load_config(osp.join(ROOT, OFFICE_HOME_CONFIG)).classes
    rng = np.random.default_rng(0)
    for domain in ('Art', 'Clipart'):
        for name in classes:
            folder = osp.join(root, domain, name)
            os.makedirs(folder, exist_ok=True)
            for k in range(per_class):
                pixels = rng.integers(0, 255, (size, size, 3), np.uint8)
                Image.fromarray(pixels).save(osp.join(folder, f'{k}.jpg'))
    return 2 * len(classes) * per_class


def make_seg(root: str, hw) -> dict:
    """The segmentation trees of tests/seg_data.py at ``hw`` pixels."""
    import seg_data
    seg_data.H, seg_data.W = hw
    return seg_data.make_seg_trees(root)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root')
    parser.add_argument(
        '--quick', action='store_true', help='tiny images (CPU dry run)')
    args = parser.parse_args()
    size = QUICK if args.quick else REAL
    start = time.time()
    n = make_office_home(
        osp.join(args.root, 'office_home'), size['office_size'],
        size['per_class'])
    print(
        f'DATA office_home: {n} images, {time.time() - start:.1f}s',
        flush=True)
    paths = make_seg(args.root, size['seg_hw'])
    print(f'DATA seg {sorted(paths)} at {size["seg_hw"]}: '
          f'{time.time() - start:.1f}s')


if __name__ == '__main__':
    main()
