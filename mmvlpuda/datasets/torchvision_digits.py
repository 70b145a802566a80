"""MNIST, USPS and SVHN from the files torchvision's datasets write.

Nothing is downloaded at run time: the files must already be on disk, e.g.
from ``torchvision.datasets.MNIST(root, download=True)`` run once elsewhere.
They are parsed here directly (torchvision is not needed), which also
accepts MNIST's still-gzipped ``.gz`` files.
"""
import bz2
import gzip
import os.path as osp
import struct
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmvlpuda.registry import DATASETS
from .bundled_digits import DIGIT_CLASSES
from .holdout import HoldoutMixin

SPLITS = ('train', 'test')
# files (relative to the torchvision root) per domain and split
DIGIT_FILES = {
    'mnist': {
        'train': ('MNIST/raw/train-images-idx3-ubyte',
                  'MNIST/raw/train-labels-idx1-ubyte'),
        'test': ('MNIST/raw/t10k-images-idx3-ubyte',
                 'MNIST/raw/t10k-labels-idx1-ubyte'),
    },
    'usps': {
        'train': ('usps.bz2', ),
        'test': ('usps.t.bz2', ),
    },
    'svhn': {
        'train': ('train_32x32.mat', ),
        'test': ('test_32x32.mat', ),
    },
}


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def read_idx(path: str) -> np.ndarray:
    """An unsigned-byte IDX array (MNIST format), plain or gzipped."""
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f'cannot read IDX file {path}: {_first_line(e)}') \
            from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f'not an IDX file: {path} (bad magic number)')
    if data[2] != 0x08:
        raise ValueError(f'IDX file {path} has data type 0x{data[2]:02x}, '
                         'expected 0x08 (unsigned byte)')
    ndim = data[3]
    offset = 4 + 4 * ndim
    if ndim == 0 or len(data) < offset:
        raise ValueError(f'truncated IDX header in {path}')
    dims = struct.unpack(f'>{ndim}I', data[4:offset])
    count = int(np.prod(dims))
    if len(data) - offset != count:
        raise ValueError(f'IDX file {path} holds {len(data) - offset} bytes '
                         f'of data, its header {dims} needs {count}')
    return np.frombuffer(data, np.uint8, count, offset).reshape(dims)


def read_usps(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """USPS libsvm file (bz2): labels 1..10 (digit + 1), 256 values in
    [-1, 1] -> (N, 16, 16) uint8 images as torchvision converts them, and
    digit labels."""
    images, labels = [], []
    try:
        with bz2.open(path, 'rt') as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                where = f'{path}:{lineno}'
                try:
                    label = int(float(fields[0]))
                    pixels = np.zeros(256, np.float64)
                    for field in fields[1:]:
                        index, value = field.split(':')
                        pixels[int(index) - 1] = float(value)
                except (ValueError, IndexError):
                    raise ValueError(f'{where}: not a libsvm line of 256 '
                                     'pixel values') from None
                if not 1 <= label <= 10:
                    raise ValueError(f'{where}: USPS label {label} is '
                                     'outside 1..10')
                images.append(pixels)
                labels.append(label - 1)
    except (OSError, EOFError) as e:
        raise ValueError(f'cannot read USPS file {path}: {_first_line(e)}') \
            from e
    if not images:
        raise ValueError(f'USPS file {path} holds no samples')
    images = np.clip((np.stack(images) + 1) / 2 * 255, 0, 255)
    return images.astype(np.uint8).reshape(-1, 16, 16), np.array(labels)


def read_svhn(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """SVHN ``*_32x32.mat``: X (32, 32, 3, N) RGB, y (N, 1) with 10 for the
    digit 0 -> (N, 32, 32, 3) RGB uint8 images and digit labels."""
    try:
        from scipy.io import loadmat
    except ImportError as e:  # pragma: no cover
        raise ImportError('SVHN needs scipy (scipy.io.loadmat)') from e
    try:
        mat = loadmat(path)
    except Exception as e:
        raise ValueError(f'cannot read SVHN file {path}: {_first_line(e)}') \
            from e
    if 'X' not in mat or 'y' not in mat:
        raise ValueError(f'SVHN file {path} lacks the `X`/`y` arrays')
    images, labels = mat['X'], mat['y'].reshape(-1).astype(np.int64)
    if images.ndim != 4 or images.shape[2] != 3 \
            or images.shape[3] != len(labels):
        raise ValueError(f'SVHN file {path}: X has shape {images.shape}, '
                         f'expected (H, W, 3, {len(labels)})')
    labels[labels == 10] = 0
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f'SVHN file {path} has labels outside 0..10')
    images = np.ascontiguousarray(images.transpose(3, 0, 1, 2))
    return images.astype(np.uint8), labels


@DATASETS.register_module()
class TorchvisionDigitsDataset(HoldoutMixin, BaseDataset):
    """MNIST / USPS / SVHN read from the standard torchvision files.

    Expected files (torchvision's ``root``; ``data_root/<domain>/`` is
    searched too, as in the official code's per-domain folders):

    * ``'mnist'``: ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
      (or the same with ``.gz``); 28×28 grey.
    * ``'usps'``: ``usps.bz2`` / ``usps.t.bz2`` (libsvm); 16×16 grey.
    * ``'svhn'``: ``train_32x32.mat`` / ``test_32x32.mat``; 32×32 colour,
      label 10 means the digit 0.

    Samples carry the image as ``img`` (H×W×3 uint8, grey replicated to 3
    channels, colour in BGR order like ``LoadImageFromFile``), so pipelines
    start with augmentation, not file loading. Labels are the digits 0-9.

    Args:
        domain (str): ``'mnist'``, ``'usps'`` or ``'svhn'``.
        data_root (str): the torchvision root holding the files.
        split (str): official file split, ``'train'`` or ``'test'``.
            Defaults to 'train'.
        classes (Sequence[str], optional): 10 class names in digit order.
            Defaults to ``'0'`` .. ``'9'``.
        pipeline (Sequence): transforms. Defaults to ().
        holdout (dict, optional): held-out split of the chosen file split,
            see :mod:`mmvlpuda.datasets.holdout`. Defaults to None.
        **kwargs: other arguments of mmpretrain's ``BaseDataset``.
    """
    METAINFO = dict(classes=DIGIT_CLASSES)

    def __init__(self,
                 domain: str,
                 data_root: str,
                 split: str = 'train',
                 classes: Optional[Sequence[str]] = None,
                 pipeline: Sequence = (),
                 holdout: Optional[dict] = None,
                 **kwargs):
        if domain not in DIGIT_FILES:
            raise ValueError(f"unknown digits domain '{domain}' (key "
                             f'`domain`, one of {tuple(DIGIT_FILES)})')
        if split not in SPLITS:
            raise ValueError(f"unknown split '{split}' (key `split`, one of "
                             f'{SPLITS})')
        if classes is not None and len(classes) != len(DIGIT_CLASSES):
            raise ValueError(f'`classes` must name the {len(DIGIT_CLASSES)} '
                             f'digits in order, got {len(classes)} names')
        self.domain, self.split = domain, split
        self._images = None
        self._init_holdout(holdout)
        super().__init__(
            ann_file='',
            data_root=data_root,
            classes=classes,
            pipeline=pipeline,
            **kwargs)

    def _find_files(self) -> List[str]:
        """Paths of the split's files (plain or ``.gz`` for MNIST)."""
        root = self.data_root
        if not osp.isdir(root):
            raise FileNotFoundError(f'data root not found: {root} (key '
                                    '`data_root`)')
        names = DIGIT_FILES[self.domain][self.split]
        for base in (root, osp.join(root, self.domain)):
            found = []
            for name in names:
                path = osp.join(base, name)
                if self.domain == 'mnist' and not osp.isfile(path) \
                        and osp.isfile(path + '.gz'):
                    path += '.gz'
                found.append(path if osp.isfile(path) else None)
            if all(found):
                return found
            if base == root:
                missing = names[found.index(None)]
        gz = '[.gz]' if self.domain == 'mnist' else ''
        raise FileNotFoundError(
            f'{self.domain} {self.split} file not found: '
            f'{osp.join(root, missing)}{gz} (key `data_root`; also looked in '
            f'{osp.join(root, self.domain)}; torchvision layout, nothing is '
            'downloaded at run time)')

    def _read(self) -> Tuple[np.ndarray, np.ndarray]:
        files = self._find_files()
        if self.domain == 'usps':
            return read_usps(files[0])
        if self.domain == 'svhn':
            images, labels = read_svhn(files[0])
            return images[..., ::-1].copy(), labels  # RGB -> BGR
        images, labels = read_idx(files[0]), read_idx(files[1])
        if images.ndim != 3 or labels.ndim != 1:
            raise ValueError(f'MNIST images {files[0]} must be (N, H, W) and '
                             f'labels {files[1]} (N,), got {images.shape} '
                             f'and {labels.shape}')
        if len(images) != len(labels):
            raise ValueError(f'MNIST images {files[0]} ({len(images)}) and '
                             f'labels {files[1]} ({len(labels)}) differ in '
                             'count')
        if labels.max(initial=0) > 9:
            raise ValueError(f'MNIST labels {files[1]} hold values above 9')
        return images, labels.astype(np.int64)

    def load_data_list(self) -> List[dict]:
        images, labels = self._read()
        self._images = images
        return [
            dict(gt_label=int(label), file_index=i)
            for i, label in enumerate(labels)
        ]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        img = self._images[info['file_index']]
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        else:
            img = img.copy()
        info.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return info
