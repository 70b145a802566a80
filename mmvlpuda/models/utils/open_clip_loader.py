"""Create open_clip models from a name (or a JSON model config) plus weights
given as an open_clip pretrained tag or a local file."""
import json
import os
import os.path as osp
from typing import Optional

import open_clip
import torch.nn as nn

_BUNDLED_CONFIGS = osp.join(
    osp.dirname(osp.dirname(__file__)), 'backbones', 'open_clip_configs')
open_clip.add_model_config(_BUNDLED_CONFIGS)

_WEIGHT_SUFFIXES = ('.pt', '.pth', '.bin', '.safetensors', '.ckpt')


def _is_path_like(value: str) -> bool:
    return (os.sep in value or value.startswith('.')
            or value.endswith(_WEIGHT_SUFFIXES))


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def resolve_arch(arch: str) -> str:
    """Return an open_clip model name for ``arch``.

    ``arch`` is an open_clip name (``RN50``, ``ViT-B-16``, ...), a
    ``hf-hub:``/``local-dir:`` reference, or a path to a ``.json`` model
    config (registered with open_clip under its file stem).
    """
    if not isinstance(arch, str) or not arch:
        raise ValueError(f'open_clip arch must be a non-empty string, got '
                         f'{arch!r} (key `arch`)')
    if arch.startswith(('hf-hub:', 'local-dir:')):
        return arch
    if arch.endswith('.json'):
        if not osp.isfile(arch):
            raise FileNotFoundError(
                f'open_clip model config file not found: {arch} (key `arch`)')
        with open(arch) as f:
            try:
                cfg = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f'{arch}: invalid JSON model config '
                                 f'({_first_line(e)})') from e
        if 'vision_cfg' not in cfg or 'embed_dim' not in cfg:
            raise ValueError(f'{arch}: not an open_clip model config (needs '
                             '`embed_dim` and `vision_cfg`)')
        open_clip.add_model_config(arch)
        return osp.splitext(osp.basename(arch))[0]
    if arch not in open_clip.list_models():
        raise KeyError(f"unknown open_clip arch '{arch}' (key `arch`); see "
                       'open_clip.list_models() or pass a .json model config')
    return arch


def uses_quick_gelu(arch: str, pretrained: Optional[str]) -> bool:
    """Whether the weights were trained with QuickGELU (OpenAI CLIP)."""
    if arch.endswith('-quickgelu'):
        return True
    if not pretrained or _is_path_like(pretrained):
        return False
    cfg = open_clip.get_pretrained_cfg(arch, pretrained) or {}
    return bool(cfg.get('quick_gelu', False))


def create_open_clip(arch: str,
                     pretrained: Optional[str] = None,
                     quick_gelu: Optional[bool] = None,
                     image_size: Optional[int] = None,
                     cache_dir: Optional[str] = None) -> nn.Module:
    """Build an open_clip CLIP model in fp32 on CPU.

    Args:
        arch (str): open_clip model name or JSON config path
            (see :func:`resolve_arch`).
        pretrained (str, optional): open_clip pretrained tag (``'openai'``,
            ``'laion2b_s34b_b79k'``...) or a local weight file. None gives a
            randomly initialised model. Defaults to None.
        quick_gelu (bool, optional): force QuickGELU activations. None picks
            it from the pretrained tag (True for OpenAI weights).
            Defaults to None.
        image_size (int, optional): override the tower's input size.
            Defaults to None.
        cache_dir (str, optional): open_clip download cache. Defaults to None.
    """
    name = resolve_arch(arch)
    if pretrained is not None:
        if not isinstance(pretrained, str):
            raise TypeError(f'`pretrained` must be a tag or a path, got '
                            f'{pretrained!r}')
        if _is_path_like(pretrained) and not osp.isfile(pretrained):
            raise FileNotFoundError(
                f'CLIP weight file not found: {pretrained} (key `pretrained`)')
    if quick_gelu is None:
        quick_gelu = uses_quick_gelu(name, pretrained)
    kwargs = dict(force_quick_gelu=quick_gelu, cache_dir=cache_dir)
    if image_size is not None:
        kwargs['force_image_size'] = image_size
    try:
        model = open_clip.create_model(name, pretrained=pretrained, **kwargs)
    except RuntimeError as e:
        if pretrained and not _is_path_like(pretrained):
            raise RuntimeError(
                f"cannot load open_clip weights '{arch}'/'{pretrained}' (key "
                '`pretrained`): download them once with network access or '
                f'pass a local weight file path ({_first_line(e)})') from e
        raise
    return model.float()
