"""``${key}`` references from nested config values to top-level keys.

Benchmark configs expose what users change most as top-level keys
(``data_root``, ``source_domain``, ``target_domain``, ``classes``,
``templates``) and refer to them as ``'${data_root}'`` inside datasets and
heads, so ``--cfg-options source_domain=Product`` reaches every place at
once. ``tools/train.py`` and ``tools/test.py`` resolve them after merging
``--cfg-options``; scripts that build a Runner themselves call
:func:`resolve_cfg_refs` (or use :func:`load_config`).
"""
import copy
import re
from typing import Any, Optional

from mmengine.config import Config

_REF = re.compile(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}')


def _resolve(value: Any, cfg: dict, path: str, chain=()) -> Any:
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _lookup(cfg, whole.group(1), path, chain)
        return _REF.sub(
            lambda m: str(_lookup(cfg, m.group(1), path, chain)), value)
    if isinstance(value, dict):
        for k in list(value.keys()):
            value[k] = _resolve(value[k], cfg, f'{path}.{k}' if path else k,
                                chain)
        return value
    if isinstance(value, (list, tuple)):
        items = [
            _resolve(v, cfg, f'{path}[{i}]', chain)
            for i, v in enumerate(value)
        ]
        return type(value)(items)
    return value


def _lookup(cfg: dict, key: str, path: str, chain=()) -> Any:
    """The resolved value of top-level ``key`` (references chain, e.g. a
    dataset key referring to a pipeline key referring to ``crop_size``)."""
    if key not in cfg:
        raise KeyError(f"config reference '${{{key}}}' at `{path}` has no "
                       f'top-level key `{key}`')
    if key in chain:
        cycle = ' -> '.join(chain + (key, ))
        raise ValueError(f'config references form a cycle: {cycle} '
                         f'(at `{path}`)')
    return _resolve(copy.deepcopy(cfg[key]), cfg, key, chain + (key, ))


def resolve_cfg_refs(cfg: Config) -> Config:
    """Replace every ``'${key}'`` string in ``cfg`` (in place) by the value
    of the top-level key ``key`` (whole-string references keep the value's
    type, e.g. a class list).

    Example:
        >>> cfg = Config(dict(data_root='data/oh',
        ...                   dataset=dict(data_root='${data_root}')))
        >>> resolve_cfg_refs(cfg).dataset.data_root
        'data/oh'
    """
    # look references up in a snapshot, so the result never depends on the
    # order in which top-level keys are resolved
    snapshot = {key: copy.deepcopy(cfg[key]) for key in cfg.keys()}
    for key in snapshot:
        cfg[key] = _resolve(cfg[key], snapshot, key, (key, ))
    return cfg


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` + ``--cfg-options`` + :func:`resolve_cfg_refs`."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return resolve_cfg_refs(cfg)
