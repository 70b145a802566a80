"""DACS / DAFormer transforms: ClassMix masks, one_mix, colour jitter,
Gaussian blur, strong transform (the EMA teacher and pseudo-labels:
tests/test_ema.py, tests/test_pseudo_label.py)."""
import math

import pytest
import torch

import mmvlpuda  # noqa: F401  (installs compatibility shims, registers)
from mmvlpuda.models.utils import (apply_flags, blur_kernel_size,
                                   class_mix_masks, color_jitter,
                                   gaussian_blur, one_mix, strong_transform)

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _labels():
    """Three 12x12 label maps with different class sets (and 255)."""
    labels = torch.full((3, 12, 12), 255, dtype=torch.long)
    labels[0, :, :4], labels[0, :, 4:8], labels[0, :, 8:] = 0, 3, 7
    labels[0, 0] = 255
    labels[1, :6], labels[1, 6:, :6] = 2, 5  # two classes + ignore
    for c in range(6):  # six classes in stripes
        labels[2, 2 * c:2 * c + 2] = 10 + c
    return labels


def _imgs(batch_size=2, channels=3, size=16, seed=0):
    pixels = torch.rand(
        batch_size, channels, size, size, generator=_gen(seed)) * 255
    mean = torch.tensor(MEAN[:channels]).view(1, -1, 1, 1)
    std = torch.tensor(STD[:channels]).view(1, -1, 1, 1)
    return (pixels - mean) / std


# ---------------------------------------------------------------- ClassMix
def _pasted(label, mask):
    """Label values of ``label`` where ``mask`` is 1."""
    return set(label[mask == 1].unique().tolist())


@pytest.mark.parametrize('seed', range(5))
def test_class_mix_pool_is_the_whole_batch_as_daformer(seed):
    """DAFormer ``mmseg/models/utils/dacs_transforms.py:90-99``
    (``get_class_masks``): ``classes = torch.unique(labels)`` over the
    whole batch (255 included), then per image ``np.random.choice(n,
    int((n + n % 2) / 2), replace=False)`` and ``mask = label in
    classes`` (``generate_class_mask``, lines 102-106)."""
    labels = torch.full((2, 12, 12), 255, dtype=torch.long)
    for c in range(4):  # image 0 holds the whole pool {0..3, 255}
        labels[0, 2 * c:2 * c + 2] = c
    labels[1] = 2  # image 1: one class of the pool, no 255
    masks = class_mix_masks(labels, generator=_gen(seed))
    assert masks.shape == (2, 1, 12, 12) and masks.dtype == torch.float
    for label, mask in zip(labels, masks[:, 0]):
        for cls in label.unique():  # a class is pasted entirely or not
            assert mask[label == cls].unique().numel() == 1
    # ceil(5 / 2) = 3 of the batch's 5 values, the ignore value included
    assert len(_pasted(labels[0], masks[0, 0])) == 3
    # the same 3-of-5 draw, again for image 1: its class may be left out
    assert _pasted(labels[1], masks[1, 0]) <= {2}


def test_class_mix_batch_pool_statistics():
    """Over draws, an image's only class is pasted with probability 3/5
    (chosen from the batch pool of 5; per-image pools would always paste
    it), and the ignore value of the source is pasted too (DAFormer
    ``dacs_transforms.py:93``, ``torch.unique(labels)``)."""
    labels = torch.full((2, 6, 6), 255, dtype=torch.long)
    labels[0, :, :4] = torch.arange(4)
    labels[1] = 2
    g = _gen(3)
    draws = [class_mix_masks(labels, generator=g) for _ in range(400)]
    single = sum(float(m[1, 0].max()) for m in draws) / len(draws)
    assert 0.53 < single < 0.67
    assert any(m[0, 0][labels[0] == 255].all() for m in draws)
    per_image = class_mix_masks(labels, generator=_gen(), per_image=True)
    assert torch.all(per_image[1] == 1)


@pytest.mark.parametrize('seed', range(5))
def test_class_mix_per_image_option_chooses_half_of_each_images_classes(seed):
    labels = _labels()
    masks = class_mix_masks(labels, generator=_gen(seed), per_image=True)
    assert masks.shape == (3, 1, 12, 12) and masks.dtype == torch.float
    assert set(masks.unique().tolist()) <= {0., 1.}
    for label, mask in zip(labels, masks[:, 0]):
        present = set(label.unique().tolist()) - {255}
        chosen = set(label[mask == 1].unique().tolist())
        assert len(chosen) == math.ceil(len(present) / 2)
        assert chosen <= present  # never 255, never a foreign class
        for cls in present:  # a class is pasted entirely or not at all
            assert mask[label == cls].unique().numel() == 1
        assert torch.all(mask[label == 255] == 0)


def test_class_mix_is_random_deterministic_and_accepts_b1hw():
    labels = _labels()
    for per_image in (False, True):
        first = class_mix_masks(labels, generator=_gen(1), per_image=per_image)
        assert torch.equal(
            first,
            class_mix_masks(
                labels[:, None], generator=_gen(1), per_image=per_image))
        draws = {
            tuple(
                class_mix_masks(
                    labels, generator=_gen(s),
                    per_image=per_image)[2, 0, ::2, 0].tolist())
            for s in range(10)
        }
        assert len(draws) > 1
    only_ignore = torch.full((1, 4, 4), 255)
    assert torch.all(class_mix_masks(only_ignore, per_image=True) == 0)
    assert torch.all(class_mix_masks(only_ignore) == 1)  # DAFormer pastes


# ---------------------------------------------------------------- one_mix
def test_one_mix_images_labels_and_weights():
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, :2] = 1
    src_img, tgt_img = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    img = one_mix(mask, src_img, tgt_img)
    assert torch.equal(img[:, :, :2], src_img[:, :, :2])
    assert torch.equal(img[:, :, 2:], tgt_img[:, :, 2:])

    src_lbl = torch.full((2, 4, 4), 255, dtype=torch.long)
    tgt_lbl = torch.randint(0, 19, (2, 4, 4))
    lbl = one_mix(mask, src_lbl, tgt_lbl)
    assert lbl.dtype == torch.long and lbl.shape == (2, 4, 4)
    assert torch.all(lbl[:, :2] == 255)
    assert torch.equal(lbl[:, 2:], tgt_lbl[:, 2:])

    weight = one_mix(mask, torch.ones(2, 4, 4), torch.full((2, 4, 4), 0.3))
    assert torch.allclose(weight[:, :2], torch.ones(1))
    assert torch.allclose(weight[:, 2:], torch.full((1, ), 0.3))


# ---------------------------------------------------------------- jitter
def test_apply_flags_threshold_rule():
    assert apply_flags(6, 0.) == [True] * 6
    assert apply_flags(6, 1.) == [False] * 6
    flags = apply_flags(1000, 0.2, generator=_gen(), per_image=True)
    assert 0.75 < sum(flags) / 1000 < 0.85  # applied iff U > p
    g = _gen()
    batches = [apply_flags(4, 0.2, generator=g) for _ in range(1000)]
    assert all(len(set(b)) == 1 and len(b) == 4 for b in batches)
    assert 0.75 < sum(b[0] for b in batches) / 1000 < 0.85


def test_color_jitter_shape_dtype_and_forced_probability():
    imgs = _imgs()
    jittered = color_jitter(imgs, MEAN, STD, probability=0., generator=_gen())
    assert jittered.shape == imgs.shape and jittered.dtype == imgs.dtype
    for before, after in zip(imgs, jittered):
        assert not torch.allclose(before, after, atol=1e-3)
    assert torch.equal(color_jitter(imgs, MEAN, STD, probability=1.), imgs)
    again = color_jitter(imgs, MEAN, STD, probability=0., generator=_gen())
    assert torch.equal(jittered, again)


def test_color_jitter_renormalises_and_skips_non_rgb():
    imgs = _imgs()
    # zero strength: identity factors, only the (de)normalisation round trip
    same = color_jitter(
        imgs,
        torch.tensor(MEAN),
        torch.tensor(STD),
        strength=0.,
        probability=0.)
    assert torch.allclose(same, imgs, atol=1e-4)
    gray = _imgs(channels=1)
    assert torch.equal(
        color_jitter(gray, MEAN[:1], STD[:1], probability=0.), gray)


# ---------------------------------------------------------------- blur
@pytest.mark.parametrize('size,kernel', [(512, 51), (1024, 103), (64, 7),
                                         (10, 1), (21, 3), (100, 9)])
def test_blur_kernel_size_daformer_rule(size, kernel):
    assert blur_kernel_size(size) == kernel


def test_blur_kernel_size_is_odd_and_about_ten_percent():
    for size in range(1, 2049):
        k = blur_kernel_size(size)
        assert k % 2 == 1 and abs(k - 0.1 * size) <= 1.5


def test_gaussian_blur_kernel_per_axis_and_forced_probability():
    impulse = torch.zeros(2, 3, 100, 30)  # kernel 9 (rows) x 3 (cols)
    impulse[:, :, 50, 15] = 1.
    rows, cols = set(), set()
    for seed in range(8):  # small sigmas underflow in the kernel's tails
        blurred = gaussian_blur(impulse, probability=0., generator=_gen(seed))
        assert blurred.shape == impulse.shape
        assert blurred.dtype == torch.float
        assert torch.allclose(blurred.sum((2, 3)), torch.ones(2, 3))
        support = blurred[0, 0] > 0
        rows.add(support.any(1).sum().item())
        cols.add(support.any(0).sum().item())
    assert max(rows) == 9 and max(cols) == 3 and min(rows) < 9
    assert torch.equal(gaussian_blur(impulse, probability=1.), impulse)
    const = torch.full((1, 3, 20, 20), 0.7)
    assert torch.allclose(gaussian_blur(const, probability=0.), const)


# ------------------------------------------------- batch-wide decisions
def _changed(before, after):
    """Per image: was it transformed (any value differs)?"""
    return [not torch.equal(b, a) for b, a in zip(before, after)]


def test_jitter_and_blur_are_decided_once_per_batch():
    """DAFormer ``mmseg/models/uda/dacs.py:223-231`` draws
    ``strong_parameters`` once per batch (``'color_jitter':
    random.uniform(0, 1)``, ``'blur': random.uniform(0, 1)``) and applies
    them to every image of the loop at lines 293-298; the thresholds are
    ``color_jitter > p`` and ``blur > 0.5`` (``dacs_transforms.py:56,72``).
    Factors / sigma stay per image (a kornia call per image, line 73)."""
    imgs = _imgs(batch_size=4, size=32)  # blur kernel 3
    transforms = dict(
        jitter=lambda x, g: color_jitter(x, MEAN, STD, 0.2, 0.5, g),
        blur=lambda x, g: gaussian_blur(x, 0.5, g))
    for name, func in transforms.items():
        outcomes = set()
        for seed in range(12):
            flags = _changed(imgs, func(imgs, _gen(seed)))
            assert len(set(flags)) == 1, (name, seed, flags)
            outcomes.add(flags[0])
        assert outcomes == {True, False}, name
    jittered = color_jitter(
        imgs[:1].expand(4, -1, -1, -1),
        MEAN,
        STD,
        probability=0.,
        generator=_gen())
    assert not torch.allclose(jittered[0], jittered[1])  # own factors
    per_image = {
        tuple(
            _changed(imgs, gaussian_blur(imgs, 0.5, _gen(s), per_image=True)))
        for s in range(12)
    }
    assert any(len(set(f)) == 2 for f in per_image)


# ---------------------------------------------------------------- strong
def test_strong_transform_is_mix_then_jitter_then_blur():
    src, tgt = _imgs(seed=1), _imgs(seed=2)
    mask = class_mix_masks(
        torch.randint(0, 4, (2, 16, 16), generator=_gen()), generator=_gen())
    plain = strong_transform(
        src, tgt, mask, MEAN, STD, color_jitter_probability=1., blur=False)
    assert torch.equal(plain, one_mix(mask, src, tgt))
    strong = strong_transform(
        src,
        tgt,
        mask,
        MEAN,
        STD,
        color_jitter_probability=0.,
        generator=_gen(4))
    g = _gen(4)
    expected = gaussian_blur(
        color_jitter(one_mix(mask, src, tgt), MEAN, STD, 0.2, 0., g),
        generator=g)
    assert strong.shape == src.shape
    assert torch.equal(strong, expected)
