"""``${key}`` references from nested config values to top-level keys.

Benchmark configs expose what users change most as top-level keys
(``data_root``, ``source_domain``, ``target_domain``, ``classes``,
``templates``) and refer to them as ``'${data_root}'`` inside datasets and
heads, so ``--cfg-options source_domain=Product`` reaches every place at
once. ``tools/train.py`` and ``tools/test.py`` resolve them after merging
``--cfg-options``; scripts that build a Runner themselves call
:func:`resolve_cfg_refs` (or use :func:`load_config`).

A reference that cannot be resolved is an error naming it and the place
that holds it (:class:`ConfigReferenceError`), never a literal ``'${key}'``
left in a path. Only this ``${name}`` form is handled here: mmengine's own
``{{_base_.xxx}}`` and ``{{$NAME:default}}`` (environment variable)
substitutions happen earlier, in ``Config.fromfile``, and never produce
``${``.
"""
import copy
import re
from typing import Any, Iterator, Optional, Tuple

from mmengine.config import Config

# a reference: ``${name}`` with a Python identifier as name
_REF = re.compile(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}')
# anything that looks like one (``${ name }``, ``${a.b}``, ``${}``): after
# resolution, such a string is an error instead of a literal value
_ANY_REF = re.compile(r'\$\{([^{}]*)\}')


class ConfigReferenceError(KeyError):
    """A ``'${key}'`` config reference that names no top-level key.

    A :class:`KeyError` whose ``str()`` is the plain one-line message
    (``KeyError`` alone would print it quoted).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _undefined(key: str, path: str, cfg: dict) -> ConfigReferenceError:
    msg = (f"config key '${{{key}}}' referenced by {path or '<root>'} "
           'is not defined')
    if key.strip() != key and key.strip() in cfg:
        msg += f" (did you mean '${{{key.strip()}}}'?)"
    elif not _REF.fullmatch(f'${{{key}}}'):
        msg += " (a reference is '${name}', name a top-level key)"
    return ConfigReferenceError(msg)


def _resolve(value: Any, cfg: dict, path: str, chain=()) -> Any:
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _lookup(cfg, whole.group(1), path, chain)
        return _REF.sub(lambda m: str(_lookup(cfg, m.group(1), path, chain)),
                        value)
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
        raise _undefined(key, path, cfg)
    if key in chain:
        cycle = ' -> '.join(chain + (key, ))
        raise ValueError(f'config references form a cycle: {cycle} '
                         f'(at `{path}`)')
    return _resolve(copy.deepcopy(cfg[key]), cfg, key, chain + (key, ))


def _strings(value: Any, path: str) -> Iterator[Tuple[str, str]]:
    """``(path, string)`` for every string value nested in ``value``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f'{path}.{k}' if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f'{path}[{i}]')


def check_resolved(cfg: Config, _resolved: bool = False) -> Config:
    """Raise :class:`ConfigReferenceError` if any string in ``cfg`` still
    holds a ``'${...}'`` reference; return ``cfg`` otherwise.

    :func:`resolve_cfg_refs` ends with it. Call it on a config loaded with
    ``Config.fromfile`` alone to fail on the first reference (then the
    message also says that the references were never resolved).
    """
    for path, text in _strings(
            cfg.to_dict() if isinstance(cfg, Config) else cfg, ''):
        match = _ANY_REF.search(text)
        if match is None:
            continue
        key = match.group(1)
        if key in cfg:
            why = ('it was produced by substituting another reference'
                   if _resolved else 'load the config with '
                   'mmvlpuda.utils.load_config or call resolve_cfg_refs')
            raise ConfigReferenceError(
                f"config key '${{{key}}}' referenced by {path} is not "
                f'resolved ({why})')
        raise _undefined(key, path, cfg)
    return cfg


def resolve_cfg_refs(cfg: Config) -> Config:
    """Replace every ``'${key}'`` string in ``cfg`` (in place) by the value
    of the top-level key ``key`` (whole-string references keep the value's
    type, e.g. a class list).

    A reference to a key that does not exist, or a string that still looks
    like a reference afterwards (``'${ data_root }'``, ``'${a.b}'``), raises
    :class:`ConfigReferenceError` (a ``KeyError``) naming the reference and
    where it is used, e.g. ``config key '${data_root}' referenced by
    train_dataloader.dataset.data_root is not defined``. A cycle of
    references raises ``ValueError`` naming it.

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
    return check_resolved(cfg, _resolved=True)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` + ``--cfg-options`` + :func:`resolve_cfg_refs`."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return resolve_cfg_refs(cfg)
