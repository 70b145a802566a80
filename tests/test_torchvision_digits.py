"""Behaviour of ``TorchvisionDigitsDataset`` on tiny generated MNIST (IDX),
USPS (bz2 libsvm) and SVHN (.mat) files in torchvision's layout."""
import bz2
import gzip
import os
import os.path as osp
import struct

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from scipy.io import savemat

import mmvlpuda  # noqa: F401  (registers modules, compat fixes)
from mmvlpuda.registry import DATASETS
from mmvlpuda.utils import load_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DIGITS_CFG = osp.join(REPO, 'configs', '_base_', 'datasets', 'digits.py')


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmvlpuda')


def assert_one_line(err):
    msg = str(err)
    assert msg, 'error message is empty'
    assert '\n' not in msg, f'multi-line error message: {msg!r}'


def build(**kwargs):
    return DATASETS.build(dict(type='TorchvisionDigitsDataset', **kwargs))


def samples(ds):
    return [(ds.get_data_info(i)['img'], ds.get_data_info(i)['gt_label'])
            for i in range(len(ds))]


# ------------------------------------------------------- file writers


def write_idx(path, arr, gz=False):
    arr = np.asarray(arr, np.uint8)
    os.makedirs(osp.dirname(path), exist_ok=True)
    header = bytes([0, 0, 8, arr.ndim]) + struct.pack(f'>{arr.ndim}I', *
                                                      arr.shape)
    with (gzip.open if gz else open)(path, 'wb') as f:
        f.write(header + arr.tobytes())
    return path


def make_mnist(root, split='train', n=12, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n) % 10
    prefix = 'train' if split == 'train' else 't10k'
    raw = osp.join(str(root), 'MNIST', 'raw')
    ext = '.gz' if gz else ''
    write_idx(osp.join(raw, f'{prefix}-images-idx3-ubyte{ext}'), images, gz)
    write_idx(osp.join(raw, f'{prefix}-labels-idx1-ubyte{ext}'), labels, gz)
    return images, labels


def write_usps(path, images, labels):
    """libsvm lines ``<digit + 1> 1:v1 ... 256:v256`` with v in [-1, 1]."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    lines = []
    for img, label in zip(images, labels):
        values = img.reshape(-1) / 255. * 2 - 1
        feats = ' '.join(f'{i + 1}:{v:.6f}' for i, v in enumerate(values))
        lines.append(f'{label + 1} {feats}')
    with bz2.open(path, 'wt') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def make_usps(root, split='train', n=10, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 16, 16)).astype(np.uint8)
    images[0] = 0
    images[1] = 255
    labels = (np.arange(n) * 3) % 10
    name = 'usps.bz2' if split == 'train' else 'usps.t.bz2'
    write_usps(osp.join(str(root), name), images, labels)
    return images, labels


def make_svhn(root, split='train', n=11, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    digits = np.arange(n) % 10
    y = np.where(digits == 0, 10, digits).reshape(-1, 1)  # 10 = digit 0
    os.makedirs(str(root), exist_ok=True)
    savemat(
        osp.join(str(root), f'{split}_32x32.mat'),
        dict(X=images.transpose(1, 2, 3, 0), y=y.astype(np.uint8)))
    return images, digits


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize('gz', [False, True])
def test_mnist_idx_files_plain_or_gzipped(tmp_path, gz):
    images, labels = make_mnist(tmp_path, 'train', n=12, gz=gz)
    ds = build(domain='mnist', data_root=str(tmp_path), split='train')
    assert len(ds) == 12
    assert list(ds.metainfo['classes']) == [str(i) for i in range(10)]
    for (img, label), ref, ref_label in zip(samples(ds), images, labels):
        assert img.shape == (28, 28, 3) and img.dtype == np.uint8
        # grey replicated to 3 channels
        for c in range(3):
            np.testing.assert_array_equal(img[..., c], ref)
        assert label == ref_label
    info = ds.get_data_info(0)
    assert info['img_shape'] == (28, 28) and info['ori_shape'] == (28, 28)


def test_train_and_test_files_are_separate_splits(tmp_path):
    make_mnist(tmp_path, 'train', n=12, seed=0)
    test_images, _ = make_mnist(tmp_path, 'test', n=5, seed=1)
    train = build(domain='mnist', data_root=str(tmp_path), split='train')
    test = build(domain='mnist', data_root=str(tmp_path), split='test')
    assert (len(train), len(test)) == (12, 5)
    np.testing.assert_array_equal(
        test.get_data_info(4)['img'][..., 0], test_images[4])


def test_usps_libsvm_bz2(tmp_path):
    images, labels = make_usps(tmp_path, 'train', n=10)
    make_usps(tmp_path, 'test', n=4, seed=1)
    ds = build(domain='usps', data_root=str(tmp_path), split='train')
    assert len(ds) == 10
    assert len(build(domain='usps', data_root=str(tmp_path),
                     split='test')) == 4
    got = samples(ds)
    # labels: file label - 1
    assert [label for _, label in got] == labels.tolist()
    # -1 -> 0, 1 -> 255, values like torchvision's ((x + 1) / 2 * 255)
    assert (got[0][0] == 0).all() and (got[1][0] == 255).all()
    for (img, _), ref in zip(got, images):
        assert img.shape == (16, 16, 3) and img.dtype == np.uint8
        assert np.abs(img[..., 0].astype(int) - ref).max() <= 1
        np.testing.assert_array_equal(img[..., 0], img[..., 2])


def test_svhn_mat_label_10_is_zero_and_colour_is_bgr(tmp_path):
    images, digits = make_svhn(tmp_path, 'train', n=11)
    ds = build(domain='svhn', data_root=str(tmp_path), split='train')
    got = samples(ds)
    assert [label for _, label in got] == digits.tolist()
    assert got[0][1] == 0 and got[10][1] == 0
    for (img, _), ref in zip(got, images):
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
        # BGR like LoadImageFromFile (the data preprocessor converts)
        np.testing.assert_array_equal(img, ref[..., ::-1])


def test_per_domain_subfolder_is_searched_too(tmp_path):
    make_mnist(tmp_path / 'mnist', 'train', n=3)
    make_usps(tmp_path / 'usps', 'train', n=4)
    assert len(build(domain='mnist', data_root=str(tmp_path))) == 3
    assert len(build(domain='usps', data_root=str(tmp_path))) == 4


def test_samples_are_independent_copies(tmp_path):
    make_mnist(tmp_path, 'train', n=3)
    ds = build(domain='mnist', data_root=str(tmp_path))
    img = ds.get_data_info(0)['img']
    img[:] = 0
    assert ds.get_data_info(0)['img'].any()


def test_holdout_split_of_a_file_split(tmp_path):
    make_mnist(tmp_path, 'train', n=40)
    kw = dict(domain='mnist', data_root=str(tmp_path))
    test = build(**kw, holdout=dict(ratio=0.25, seed=0, part='test'))
    train = build(**kw, holdout=dict(ratio=0.25, seed=0, part='train'))
    assert (len(test), len(train)) == (10, 30)
    test_imgs = {
        test.get_data_info(i)['img'].tobytes()
        for i in range(len(test))
    }
    train_imgs = {
        train.get_data_info(i)['img'].tobytes()
        for i in range(len(train))
    }
    assert not test_imgs & train_imgs
    assert sorted(test.get_data_info(i)['gt_label']
                  for i in range(len(test))) == list(range(10))


# ------------------------------------------------------------- pipeline


def test_digits_config_builds_and_yields_tensors(tmp_path):
    make_svhn(tmp_path, 'train', n=6)
    make_mnist(tmp_path, 'train', n=8)
    make_mnist(tmp_path, 'test', n=5, seed=2)
    cfg = load_config(DIGITS_CFG, dict(data_root=str(tmp_path)))
    assert (cfg.source_domain, cfg.target_domain) == ('svhn', 'mnist')
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train.source), len(train.target), len(val)) == (6, 8, 5)
    pair = train[0]
    for side in ('source', 'target'):
        inputs = pair[side]['inputs']
        assert isinstance(inputs, torch.Tensor)
        assert inputs.shape == (3, 224, 224) and inputs.dtype == torch.uint8
    assert int(pair['source']['data_samples'].gt_label) == 0
    assert 'gt_label' not in pair['target']['data_samples']
    out = val[3]
    assert out['inputs'].shape == (3, 224, 224)
    assert int(out['data_samples'].gt_label) == 3


@pytest.mark.parametrize('domain, maker', [('usps', make_usps),
                                           ('mnist', make_mnist)])
def test_digits_config_other_domains(tmp_path, domain, maker):
    maker(tmp_path, 'train')
    maker(tmp_path, 'test')
    cfg = load_config(
        DIGITS_CFG,
        dict(
            data_root=str(tmp_path),
            source_domain=domain,
            target_domain=domain))
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert val[0]['inputs'].shape == (3, 224, 224)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize('domain, split, expected', [
    ('mnist', 'train', 'MNIST/raw/train-images-idx3-ubyte[.gz]'),
    ('mnist', 'test', 'MNIST/raw/t10k-images-idx3-ubyte[.gz]'),
    ('usps', 'train', 'usps.bz2'),
    ('usps', 'test', 'usps.t.bz2'),
    ('svhn', 'train', 'train_32x32.mat'),
    ('svhn', 'test', 'test_32x32.mat'),
])
def test_missing_file_is_named(tmp_path, domain, split, expected):
    with pytest.raises(FileNotFoundError) as exc:
        build(domain=domain, data_root=str(tmp_path), split=split)
    msg = str(exc.value)
    assert osp.join(str(tmp_path), *expected.split('/')) in msg
    assert '`data_root`' in msg and 'download' in msg
    assert_one_line(exc.value)


def test_missing_mnist_label_file_is_named(tmp_path):
    make_mnist(tmp_path, 'train', n=3)
    label_file = osp.join(
        str(tmp_path), 'MNIST', 'raw', 'train-labels-idx1-ubyte')
    os.remove(label_file)
    with pytest.raises(FileNotFoundError) as exc:
        build(domain='mnist', data_root=str(tmp_path))
    assert label_file in str(exc.value)
    assert_one_line(exc.value)


def test_missing_data_root(tmp_path):
    root = osp.join(str(tmp_path), 'nope')
    with pytest.raises(FileNotFoundError) as exc:
        build(domain='mnist', data_root=root)
    assert root in str(exc.value) and '`data_root`' in str(exc.value)
    assert_one_line(exc.value)


@pytest.mark.parametrize('kwargs, key', [
    (dict(domain='emnist'), '`domain`'),
    (dict(domain='mnist', split='val'), '`split`'),
    (dict(domain='mnist', classes=['a', 'b']), '`classes`'),
])
def test_bad_arguments(tmp_path, kwargs, key):
    make_mnist(tmp_path, 'train', n=3)
    with pytest.raises(ValueError) as exc:
        build(data_root=str(tmp_path), **kwargs)
    assert key in str(exc.value)
    assert_one_line(exc.value)


def test_corrupt_idx_files(tmp_path):
    make_mnist(tmp_path, 'train', n=3)
    raw = osp.join(str(tmp_path), 'MNIST', 'raw')
    images = osp.join(raw, 'train-images-idx3-ubyte')
    # bad magic number
    with open(images, 'wb') as f:
        f.write(b'<html>not found</html>')
    with pytest.raises(ValueError) as exc:
        build(domain='mnist', data_root=str(tmp_path))
    assert images in str(exc.value) and 'magic' in str(exc.value)
    assert_one_line(exc.value)
    # truncated data
    write_idx(images, np.zeros((3, 28, 28)))
    with open(images, 'r+b') as f:
        f.truncate(100)
    with pytest.raises(ValueError) as exc:
        build(domain='mnist', data_root=str(tmp_path))
    assert images in str(exc.value)
    assert_one_line(exc.value)
    # image / label counts differ
    write_idx(images, np.zeros((4, 28, 28)))
    with pytest.raises(ValueError) as exc:
        build(domain='mnist', data_root=str(tmp_path))
    assert 'differ in count' in str(exc.value)
    assert_one_line(exc.value)


def test_corrupt_gzip(tmp_path):
    make_mnist(tmp_path, 'train', n=3, gz=True)
    gz = osp.join(str(tmp_path), 'MNIST', 'raw', 'train-labels-idx1-ubyte.gz')
    with open(gz, 'wb') as f:
        f.write(b'definitely not gzip')
    with pytest.raises(ValueError) as exc:
        build(domain='mnist', data_root=str(tmp_path))
    assert gz in str(exc.value)
    assert_one_line(exc.value)


def test_bad_usps_lines_name_file_and_line(tmp_path):
    path = osp.join(str(tmp_path), 'usps.bz2')
    with bz2.open(path, 'wt') as f:
        f.write('1 1:0.5 2:-1\n12 1:0.5\n')
    with pytest.raises(ValueError) as exc:
        build(domain='usps', data_root=str(tmp_path))
    assert f'{path}:2' in str(exc.value) and '1..10' in str(exc.value)
    assert_one_line(exc.value)
    with bz2.open(path, 'wt') as f:
        f.write('1 1:0.5 2:oops\n')
    with pytest.raises(ValueError) as exc:
        build(domain='usps', data_root=str(tmp_path))
    assert f'{path}:1' in str(exc.value)
    assert_one_line(exc.value)
    with open(path, 'wb') as f:
        f.write(b'not bz2')
    with pytest.raises(ValueError) as exc:
        build(domain='usps', data_root=str(tmp_path))
    assert path in str(exc.value)
    assert_one_line(exc.value)


def test_bad_svhn_mat(tmp_path):
    path = osp.join(str(tmp_path), 'train_32x32.mat')
    savemat(path, dict(images=np.zeros((2, 2))))
    with pytest.raises(ValueError) as exc:
        build(domain='svhn', data_root=str(tmp_path))
    assert path in str(exc.value) and '`X`' in str(exc.value)
    assert_one_line(exc.value)
    with open(path, 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(ValueError) as exc:
        build(domain='svhn', data_root=str(tmp_path))
    assert path in str(exc.value)
    assert_one_line(exc.value)
