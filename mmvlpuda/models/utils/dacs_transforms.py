"""DACS / DAFormer self-training transforms for semantic segmentation UDA.

Batch-first torch re-implementation of DAFormer's
``mmseg/models/utils/dacs_transforms.py`` (from DACS, Tranheden et al. 2021):
ClassMix masks, mixing, colour jitter and Gaussian blur. The EMA teacher
and the pseudo-labels of DAFormer's ``mmseg/models/uda/dacs.py`` (Hoyer et
al. 2022) are not transforms: they live with the UDA segmentors
(``mmvlpuda/models/segmentors/ema.py`` and ``pseudo_label.py``).

Images are normalised ``(B, C, H, W)`` float tensors, labels ``(B, H, W)``
long. Every random function takes an optional :class:`torch.Generator`
(random numbers are drawn on the generator's device, default CPU, then moved
to the data's device).

By default the random rules are DAFormer's (``mmseg/models/uda/dacs.py:
222-231, 291-301``): the ClassMix classes come from the whole batch's labels
and each apply/skip decision (colour jitter, blur) is drawn once per batch,
while the jitter factors, the blur sigma and the chosen classes are drawn
per image. ``per_image=True`` gives per-image classes / decisions instead.
The one difference kept: colour jitter uses torchvision's ``adjust_*``
(multiplicative brightness) instead of kornia 0.5 (configs/seg/README.md).
"""
import math
from typing import List, Optional, Sequence, Union

import torch
import torchvision.transforms.functional as TF
import torchvision.transforms.v2.functional as F
from torch import Tensor

MeanStd = Union[Sequence[float], Tensor]


def _rand(num: int, generator: Optional[torch.Generator]) -> Tensor:
    """``num`` samples of U(0, 1) on the generator's device (CPU default)."""
    device = generator.device if generator is not None else None
    return torch.rand(num, generator=generator, device=device)


def _randperm(num: int, generator: Optional[torch.Generator]) -> Tensor:
    """A random permutation of ``range(num)`` on the generator's device."""
    device = generator.device if generator is not None else None
    return torch.randperm(num, generator=generator, device=device)


def _uniform(low: float, high: float,
             generator: Optional[torch.Generator]) -> float:
    """One sample of U(low, high)."""
    return low + (high - low) * _rand(1, generator).item()


def apply_flags(num: int,
                probability: float,
                generator: Optional[torch.Generator] = None,
                per_image: bool = False) -> List[bool]:
    """Which images get a random transform: DAFormer dacs_transforms rule
    "apply iff U(0, 1) > p" (``color_jitter > p``, ``blur > 0.5``).

    Args:
        num (int): number of images.
        probability (float): the threshold ``p``; a transform is applied
            with probability ``1 - p`` (p=0: always, p=1: never).
        generator (torch.Generator, optional): random generator.
        per_image (bool): one draw per image, or one draw for the whole
            batch (default; DAFormer draws ``strong_parameters`` once per
            batch, ``dacs.py:223-231``).

    Returns:
        list[bool]: ``num`` flags.
    """
    draws = _rand(num if per_image else 1, generator) > probability
    flags = draws.tolist()
    return flags if per_image else flags * num


def _class_pool(label: Tensor, labels: Tensor, ignore_index: int,
                per_image: bool) -> Tensor:
    """Classes ClassMix chooses from for ``label``: every value of the
    whole batch ``labels`` (DAFormer), or ``label``'s own classes without
    ``ignore_index`` (``per_image``)."""
    if not per_image:
        return torch.unique(labels)
    classes = torch.unique(label)
    return classes[classes != ignore_index]


def class_mix_masks(labels: Tensor,
                    ignore_index: int = 255,
                    generator: Optional[torch.Generator] = None,
                    *,
                    per_image: bool = False) -> Tensor:
    """ClassMix masks: DACS (Tranheden et al. 2021) ClassMix, DAFormer
    ``get_class_masks`` / ``generate_class_mask``
    (``mmseg/models/utils/dacs_transforms.py:90-106``).

    For each image, ``ceil(n / 2)`` of ``n`` pool classes are chosen
    uniformly without replacement (a new choice per image) and the mask is 1
    on the image's pixels of a chosen class. As DAFormer, the pool is
    ``torch.unique`` of the WHOLE batch (ignore value included), so a chosen
    class may be absent from the image and source ignore pixels may be
    pasted (they keep the label ``ignore_index``). ``per_image=True`` uses
    each image's own classes without ``ignore_index`` instead; an image
    with none gets an all-zero mask.

    Args:
        labels (Tensor): source labels ``(B, H, W)`` or ``(B, 1, H, W)``.
        ignore_index (int): label value never chosen with ``per_image``.
        generator (torch.Generator, optional): random generator.
        per_image (bool): pool of each image's own classes. Defaults to
            False (DAFormer's batch pool).

    Returns:
        Tensor: float masks ``(B, 1, H, W)`` (1 = take the source pixel).
    """
    if labels.dim() == 4:
        assert labels.shape[1] == 1, 'labels must be (B,H,W) or (B,1,H,W)'
        labels = labels[:, 0]
    masks = []
    for label in labels:
        classes = _class_pool(label, labels, ignore_index, per_image)
        num_chosen = (classes.numel() + 1) // 2  # ceil(n / 2)
        order = _randperm(classes.numel(), generator).to(classes.device)
        chosen = classes[order[:num_chosen]]
        masks.append(torch.isin(label, chosen))
    return torch.stack(masks).unsqueeze(1).float()


def one_mix(mask: Tensor, source: Tensor, target: Tensor) -> Tensor:
    """Paste the masked source onto the target: DACS (Tranheden et al.
    2021) ``one_mix``, ``mask * source + (1 - mask) * target``.

    Works for images ``(B, C, H, W)``, labels ``(B, H, W)`` (a ``(B, 1, H,
    W)`` mask is squeezed to match) and weight maps. Integer inputs keep
    their dtype (the mask must then be binary).

    Args:
        mask (Tensor): mask broadcastable to ``source`` (1 = source).
        source (Tensor): pasted data.
        target (Tensor): background data, same shape as ``source``.

    Returns:
        Tensor: the mixed data, dtype of ``source``.
    """
    assert source.shape == target.shape, 'source/target shapes differ'
    if mask.dim() == source.dim() + 1 and mask.shape[1] == 1:
        mask = mask.squeeze(1)
    mask = mask.to(source.device)
    if source.is_floating_point():
        mask = mask.to(source.dtype)
        return mask * source + (1 - mask) * target
    mask = mask.float()
    mixed = mask * source.float() + (1 - mask) * target.float()
    return mixed.round().to(source.dtype)


def _as_channel_tensor(values: MeanStd, like: Tensor) -> Tensor:
    """Mean/std (any of ``(C,)``, ``(1, C, 1, 1)``) as ``(1, C, 1, 1)``."""
    values = torch.as_tensor(values, dtype=like.dtype, device=like.device)
    return values.reshape(1, -1, 1, 1)


def _jitter_one(img: Tensor, strength: float,
                generator: Optional[torch.Generator]) -> Tensor:
    """``ColorJitter(brightness=s, contrast=s, saturation=s, hue=s)`` of one
    ``(3, H, W)`` image in [0, 1] (torchvision semantics: factors from
    U(max(0, 1-s), 1+s), hue from U(-s, s) clipped to [-0.5, 0.5], the four
    adjustments in random order)."""
    low, high = max(0., 1. - strength), 1. + strength
    hue = min(strength, 0.5)
    adjust = [
        (F.adjust_brightness, _uniform(low, high, generator)),
        (F.adjust_contrast, _uniform(low, high, generator)),
        (F.adjust_saturation, _uniform(low, high, generator)),
        (F.adjust_hue, _uniform(-hue, hue, generator)),
    ]
    for idx in _randperm(4, generator).tolist():
        func, factor = adjust[idx]
        img = func(img, factor)
    return img


def color_jitter(imgs: Tensor,
                 mean: MeanStd,
                 std: MeanStd,
                 strength: float = 0.2,
                 probability: float = 0.2,
                 generator: Optional[torch.Generator] = None,
                 *,
                 per_image: bool = False) -> Tensor:
    """Colour jitter of normalised images: DAFormer dacs_transforms
    ``color_jitter``.

    The batch is jittered iff U(0, 1) > ``probability`` (probability 0.8
    for the default 0.2, one draw per batch as DAFormer, see
    :func:`apply_flags`); each image gets its own factors: it is
    denormalised to [0, 1] (``(img * std + mean) / 255``), jittered with
    ``ColorJitter(brightness=s, contrast=s, saturation=s, hue=s)``
    (torchvision semantics; DAFormer used kornia 0.5's, whose brightness is
    additive) and renormalised. Images without 3 channels are returned
    unchanged (as DAFormer).

    Args:
        imgs (Tensor): normalised float images ``(B, C, H, W)``.
        mean (Sequence[float] | Tensor): normalisation mean (0-255 scale).
        std (Sequence[float] | Tensor): normalisation std (0-255 scale).
        strength (float): jitter strength ``s`` (DAFormer 0.2).
        probability (float): threshold ``p`` (DAFormer 0.2).
        generator (torch.Generator, optional): random generator.
        per_image (bool): one apply decision per image, or one per batch
            (default, DAFormer).

    Returns:
        Tensor: images of the same shape and dtype.
    """
    if imgs.shape[1] != 3:
        return imgs
    mean = _as_channel_tensor(mean, imgs)
    std = _as_channel_tensor(std, imgs)
    flags = apply_flags(len(imgs), probability, generator, per_image)
    out = []
    for img, apply in zip(imgs, flags):
        if apply:
            img = (img * std[0] + mean[0]) / 255.
            img = _jitter_one(img, strength, generator)
            img = (img * 255. - mean[0]) / std[0]
        out.append(img)
    return torch.stack(out)


def blur_kernel_size(size: int) -> int:
    """Gaussian-blur kernel size for an image side: DAFormer
    dacs_transforms ``gaussian_blur``,
    ``floor(ceil(0.1 * size) - 0.5 + ceil(0.1 * size) % 2)`` (odd, about
    10 % of the side; 51 for 512).

    Args:
        size (int): image height or width.

    Returns:
        int: odd kernel size.
    """
    tenth = math.ceil(0.1 * size)
    return int(math.floor(tenth - 0.5 + tenth % 2))


def gaussian_blur(imgs: Tensor,
                  probability: float = 0.5,
                  generator: Optional[torch.Generator] = None,
                  *,
                  per_image: bool = False) -> Tensor:
    """Random Gaussian blur: DAFormer dacs_transforms ``gaussian_blur``.

    The batch is blurred iff U(0, 1) > ``probability`` (DAFormer: ``blur >
    0.5``, probability 0.5, one draw per batch), each image with its own
    ``sigma ~ U(0.15, 1.15)`` (same on both axes) and kernel
    :func:`blur_kernel_size` of each side (reflect padding, as kornia's
    ``GaussianBlur2d``).

    Args:
        imgs (Tensor): float images ``(B, C, H, W)``.
        probability (float): threshold ``p`` (see :func:`apply_flags`).
        generator (torch.Generator, optional): random generator.
        per_image (bool): one apply decision per image, or one per batch
            (default, DAFormer).

    Returns:
        Tensor: images of the same shape and dtype.
    """
    height, width = imgs.shape[-2:]
    # torchvision orders kernel sizes as (x, y)
    kernel = [blur_kernel_size(width), blur_kernel_size(height)]
    flags = apply_flags(len(imgs), probability, generator, per_image)
    out = []
    for img, apply in zip(imgs, flags):
        if apply:
            sigma = _uniform(0.15, 1.15, generator)
            img = TF.gaussian_blur(img, kernel, [sigma, sigma])
        out.append(img)
    return torch.stack(out)


def strong_transform(source_imgs: Tensor,
                     target_imgs: Tensor,
                     mask: Tensor,
                     mean: MeanStd,
                     std: MeanStd,
                     color_jitter_strength: float = 0.2,
                     color_jitter_probability: float = 0.2,
                     blur: bool = True,
                     generator: Optional[torch.Generator] = None,
                     *,
                     per_image: bool = False) -> Tensor:
    """Mixed strong view of DACS: DAFormer dacs_transforms
    ``strong_transform`` = :func:`one_mix` -> :func:`color_jitter` ->
    :func:`gaussian_blur` (if ``blur``). Images only: mix labels and
    weights with :func:`one_mix` alone.

    Args:
        source_imgs (Tensor): normalised source images ``(B, 3, H, W)``.
        target_imgs (Tensor): normalised target images ``(B, 3, H, W)``.
        mask (Tensor): ClassMix masks ``(B, 1, H, W)``
            (:func:`class_mix_masks`).
        mean (Sequence[float] | Tensor): normalisation mean (0-255 scale).
        std (Sequence[float] | Tensor): normalisation std (0-255 scale).
        color_jitter_strength (float): ``s`` of :func:`color_jitter`.
        color_jitter_probability (float): ``p`` of :func:`color_jitter`.
        blur (bool): whether to apply :func:`gaussian_blur`.
        generator (torch.Generator, optional): random generator.
        per_image (bool): per-image or per-batch (default, DAFormer) apply
            decisions.

    Returns:
        Tensor: the mixed, augmented images.
    """
    imgs = one_mix(mask, source_imgs, target_imgs)
    imgs = color_jitter(
        imgs,
        mean,
        std,
        color_jitter_strength,
        color_jitter_probability,
        generator,
        per_image=per_image)
    if blur:
        imgs = gaussian_blur(imgs, generator=generator, per_image=per_image)
    return imgs
