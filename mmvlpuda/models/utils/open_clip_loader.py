"""Create open_clip models from a name (or a JSON model config) plus weights
given as an open_clip pretrained tag or a local file.

OpenAI CLIP was trained with QuickGELU (``x * sigmoid(1.702 x)``); open_clip's
plain ``RN50``/``ViT-B-16`` configs use ``nn.GELU`` and only its pretrained
registry marks the ``openai`` tag ``quick_gelu=True``. A local weight file
carries no tag, so its activation is read from the file (see
:func:`weights_quick_gelu`):

* a TorchScript archive (the files the OpenAI release URLs serve, e.g.
  ``RN50.pt``; what open_clip's ``load_openai_model`` reads) holds the model
  itself: its activation modules say QuickGELU or GELU;
* a state dict with the OpenAI-only entries ``input_resolution``,
  ``context_length``, ``vocab_size`` (the state dict of such an archive) is
  OpenAI CLIP, hence QuickGELU;
* any other state dict (e.g. the open_clip-format copy on the Hugging Face
  hub) cannot tell: an explicit ``quick_gelu`` is then required, unless the
  arch name/config fixes it (``*-quickgelu``).
"""
import json
import os
import os.path as osp
import warnings
import zipfile
from typing import Optional

import open_clip
import torch
import torch.nn as nn
from open_clip.convert import convert_state_dict
from open_clip.factory import load_state_dict as _open_clip_load_state_dict
from open_clip.model import (convert_to_custom_text_state_dict,
                             resize_pos_embed, resize_text_pos_embed)

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


# entries of OpenAI's CLIP state dicts (TorchScript release files) that
# open_clip models do not have; open_clip drops them when loading
OPENAI_ONLY_KEYS = ('input_resolution', 'context_length', 'vocab_size')


def _arch_quick_gelu(arch: str) -> Optional[bool]:
    """QuickGELU as fixed by the arch (``*-quickgelu`` name or an explicit
    ``quick_gelu`` in its model config), None when the arch leaves it open."""
    if arch.endswith('-quickgelu'):
        return True
    if arch.startswith(('hf-hub:', 'local-dir:')):
        return None
    value = (open_clip.get_model_config(arch) or {}).get('quick_gelu')
    return None if value is None else bool(value)


def is_torchscript_archive(path: str) -> bool:
    """Whether ``path`` is a TorchScript zip (``torch.jit.save``), such as the
    OpenAI CLIP release files: it has a ``constants.pkl`` record (the test
    ``torch.load`` uses to hand such files to ``torch.jit.load``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.split('/', 1)[-1] == 'constants.pkl' for n in names)


def _archive_quick_gelu(module: torch.jit.ScriptModule) -> Optional[bool]:
    """Activation of a scripted/traced CLIP, from its modules' class names."""
    names = {getattr(m, 'original_name', '') for m in module.modules()}
    if 'QuickGELU' in names:
        return True
    if 'GELU' in names:
        return False
    return None


def _read_weights(path: str):
    """``(state_dict, quick_gelu or None)`` of a local weight file."""
    if is_torchscript_archive(path):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)
            module = torch.jit.load(path, map_location='cpu')
        return dict(module.state_dict()), _archive_quick_gelu(module)
    state_dict = _open_clip_load_state_dict(path)
    if any(k in state_dict for k in OPENAI_ONLY_KEYS):
        return state_dict, True  # OpenAI CLIP's own state dict
    return state_dict, None


def weights_quick_gelu(path: str) -> Optional[bool]:
    """Whether the CLIP weights in a local file were trained with QuickGELU:
    True/False when the file tells (TorchScript archive, OpenAI state dict),
    None when it cannot (a plain state dict)."""
    return _read_weights(path)[1]


def uses_quick_gelu(arch: str, pretrained: Optional[str]) -> Optional[bool]:
    """Whether the weights were trained with QuickGELU (OpenAI CLIP).

    Decided by the arch (``*-quickgelu``), else by the pretrained tag (True
    for ``openai``), else by a local file (:func:`weights_quick_gelu`; None
    when it cannot tell). Random init (``pretrained=None``) gives False.
    """
    by_arch = _arch_quick_gelu(arch)
    if not pretrained:
        return bool(by_arch)
    if not _is_path_like(pretrained):
        if by_arch is not None:
            return by_arch
        cfg = open_clip.get_pretrained_cfg(arch, pretrained) or {}
        return bool(cfg.get('quick_gelu', False))
    by_file = weights_quick_gelu(pretrained) if osp.isfile(
        pretrained) else None
    return by_file if by_file is not None else by_arch


def _quick_gelu_error(path: str, reason: str) -> ValueError:
    return ValueError(
        f'cannot tell whether the CLIP weights {path} use QuickGELU (OpenAI '
        f'CLIP) or nn.GELU: {reason}; set it explicitly: quick_gelu=True for '
        'OpenAI weights, quick_gelu=False otherwise (key `quick_gelu`, e.g. '
        '--cfg-options model.backbone.quick_gelu=True)')


def _resolve_file_quick_gelu(name: str, path: str, by_file: Optional[bool],
                             quick_gelu: Optional[bool]) -> bool:
    if quick_gelu is not None:
        return bool(quick_gelu)
    by_arch = _arch_quick_gelu(name)
    if by_file is not None and by_arch is not None and by_file != by_arch:
        raise _quick_gelu_error(
            path, f'the file says quick_gelu={by_file} but arch {name!r} '
            f'says quick_gelu={by_arch}')
    decided = by_file if by_file is not None else by_arch
    if decided is None:
        raise _quick_gelu_error(
            path, 'a plain state dict (not a TorchScript archive, no '
            'OpenAI-only entries) does not record the activation')
    return decided


def _load_state_dict(model: nn.Module, state_dict: dict) -> None:
    """Load a CLIP state dict (OpenAI or open_clip format) the way open_clip's
    ``load_checkpoint`` does for its own files and for TorchScript archives:
    drop OpenAI-only entries, convert third-party layouts, adapt position
    embeddings and scalar shapes, load strictly (fp16 tensors are cast)."""
    # non-persistent buffers (e.g. open_clip's text attn_mask) appear in the
    # state dict of a scripted module but are not weights
    non_persistent = {
        f'{prefix}.{b}' if prefix else b
        for prefix, module in model.named_modules()
        for b in getattr(module, '_non_persistent_buffers_set', ())
    }
    state_dict = {
        k: v
        for k, v in state_dict.items()
        if k not in OPENAI_ONLY_KEYS and k not in non_persistent
    }
    state_dict = convert_state_dict(model, state_dict)
    if 'positional_embedding' in state_dict and not hasattr(
            model, 'positional_embedding'):
        state_dict = convert_to_custom_text_state_dict(state_dict)
    for key in ('logit_scale', 'logit_bias'):
        value, param = state_dict.get(key), getattr(model, key, None)
        if value is not None and param is not None and \
                value.ndim != param.ndim:
            state_dict[key] = value.reshape(param.shape)
    if getattr(model, 'logit_bias', None) is not None and \
            'logit_bias' not in state_dict:
        state_dict['logit_bias'] = torch.zeros_like(model.logit_bias)
    position_ids = 'text.transformer.embeddings.position_ids'
    if position_ids in state_dict and not hasattr(model, position_ids):
        del state_dict[position_ids]
    resize_pos_embed(state_dict, model)
    resize_text_pos_embed(state_dict, model)
    model.load_state_dict(state_dict, strict=True)


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
        quick_gelu (bool, optional): QuickGELU (True) or nn.GELU (False)
            activations. None picks it from the arch (``*-quickgelu``), the
            pretrained tag (True for ``openai``) or a local file (True for
            an OpenAI TorchScript archive or OpenAI state dict; a plain state
            dict that cannot tell raises a ValueError asking for it).
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
    if quick_gelu is not None and not quick_gelu and \
            _arch_quick_gelu(name):
        raise ValueError(f'arch {arch!r} always uses QuickGELU, so '
                         'quick_gelu=False cannot apply (keys `arch`, '
                         '`quick_gelu`)')
    kwargs = dict(cache_dir=cache_dir)
    if image_size is not None:
        kwargs['force_image_size'] = image_size
    if pretrained is not None and _is_path_like(pretrained):
        return _create_from_file(arch, name, pretrained, quick_gelu, kwargs)
    if quick_gelu is None:
        quick_gelu = uses_quick_gelu(name, pretrained)
    kwargs['force_quick_gelu'] = bool(quick_gelu)
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


def _create_from_file(arch: str, name: str, path: str,
                      quick_gelu: Optional[bool], kwargs: dict) -> nn.Module:
    """A model with the weights of a local file (see the module docstring
    for how QuickGELU is decided)."""
    if path.endswith(('.npz', '.npy')):  # big_vision (SigLIP) weights
        quick_gelu = _resolve_file_quick_gelu(name, path, None, quick_gelu)
        return open_clip.create_model(
            name, pretrained=path, force_quick_gelu=quick_gelu,
            **kwargs).float()
    try:
        state_dict, by_file = _read_weights(path)
    except Exception as e:
        raise RuntimeError(f'cannot read CLIP weight file {path} (key '
                           f'`pretrained`): {_first_line(e)}') from e
    quick_gelu = _resolve_file_quick_gelu(name, path, by_file, quick_gelu)
    model = open_clip.create_model(
        name, pretrained=None, force_quick_gelu=quick_gelu, **kwargs)
    try:
        _load_state_dict(model, state_dict)
    except RuntimeError as e:
        raise RuntimeError(f'CLIP weight file {path} does not fit arch '
                           f'{arch!r} (keys `pretrained`, `arch`): '
                           f'{_first_line(e)}') from e
    return model.float()
