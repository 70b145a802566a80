"""Toy multi-label UDA data: 64x64 images holding 1-3 of 4 shapes, domain
'plain' (dark background) -> 'noisy' (bright noise), as mmpretrain
MultiLabelDataset files ``ROOT/<domain>.json`` + ``ROOT/<domain>/*.png``.

    python projects/example_new_task/tools/make_toy_data.py data/toy_multilabel
"""
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

CLASSES = ['square', 'disc', 'bar', 'cross']
yy, xx = np.mgrid[-10:10, -10:10]
MASKS = [
    (abs(xx) < 7) & (abs(yy) < 7),
    xx**2 + yy**2 < 64,  # square, disc
    (abs(xx) < 10) & (abs(yy) < 3),  # bar
    (abs(abs(xx) - abs(yy)) < 2) & (abs(xx) < 9)
]  # cross


def make_domain(root, domain, noisy, num=48, seed=0):
    rng = np.random.default_rng([seed, noisy])
    os.makedirs(osp.join(root, domain), exist_ok=True)
    data_list = []
    for i in range(num):
        img = (rng.integers(120, 255, (64, 64, 3)) if noisy else np.full(
            (64, 64, 3), 30)).astype(np.uint8)
        labels = sorted(rng.choice(4, rng.integers(1, 4), replace=False))
        for k, label in enumerate(labels):  # one shape per quadrant
            y, x = 6 + 32 * (k // 2), 6 + 32 * (k % 2)
            img[y:y + 20, x:x + 20][MASKS[label]] = rng.integers(0, 120, 3)
        cv2.imwrite(osp.join(root, domain, f'{i:03d}.png'), img)
        data_list.append(
            dict(
                img_path=f'{domain}/{i:03d}.png',
                gt_label=[int(c) for c in labels]))
    with open(osp.join(root, f'{domain}.json'), 'w') as f:
        json.dump(dict(metainfo=dict(classes=CLASSES), data_list=data_list), f)


if __name__ == '__main__':
    root = sys.argv[1] if len(sys.argv) > 1 else 'data/toy_multilabel'
    make_domain(root, 'plain', noisy=False)
    make_domain(root, 'noisy', noisy=True)
    print(f'wrote {root}/plain.json, {root}/noisy.json and 96 images')
