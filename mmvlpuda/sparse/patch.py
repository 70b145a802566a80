"""Sparse residual patches: the deployable artefact of RST (paper Fig. 2b).

A patch holds, for each selected tensor, the positions where the trained
value differs from the pretrained base (delta/varint coded) and the
residual ``w - w0`` there, plus dense tensors (e.g. the task head) and
metadata. The file format is specified in ``docs/rst_deployment.md``.
"""
import hashlib
import json
import os.path as osp
import weakref
from dataclasses import dataclass, field
from typing import Dict, Iterable, Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .atomic import atomic_write
from .dsp import count_dsp
from .varint import decode_positions, encode_positions

FORMAT = 'mmvlpuda-sparse-patch'
VERSION = 1
VALUE_DTYPES = {
    'float32': torch.float32,
    'float16': torch.float16,
    'bfloat16': torch.bfloat16
}


class PatchError(RuntimeError):
    """A patch cannot be read or does not fit the model."""


@dataclass
class SparseEntry:
    """Residual of one tensor at its changed positions.

    ``positions`` are sorted flat indices; ``values`` the residuals there;
    ``exact_positions``/``exact_values`` override positions where
    ``base + residual`` does not round to the trained value, and
    ``base_positions``/``base_values`` those where ``trained - residual``
    does not round to the base (both rare; they keep fp32 patches bit-exact
    in both directions).
    """
    shape: tuple
    dtype: torch.dtype
    positions: torch.Tensor
    values: torch.Tensor
    exact_positions: torch.Tensor = field(
        default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    exact_values: Optional[torch.Tensor] = None
    base_positions: torch.Tensor = field(
        default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    base_values: Optional[torch.Tensor] = None

    @property
    def nnz(self) -> int:
        return int(self.positions.numel())


def _state_of(model_or_state_dict) -> Dict[str, torch.Tensor]:
    if isinstance(model_or_state_dict, nn.Module):
        return model_or_state_dict.state_dict(keep_vars=True)
    return dict(model_or_state_dict)


def _starts_with(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p.rstrip('.') + '.')
               for p in prefixes)


def tensors_checksum(state: Mapping[str, torch.Tensor],
                     names: Iterable[str]) -> str:
    """sha256 over ``name``, shape, dtype and raw bytes of each tensor (in
    sorted name order): the identity of a patch's base."""
    digest = hashlib.sha256()
    for name in sorted(names):
        t = state[name].detach().cpu().contiguous()
        digest.update(f'{name}|{tuple(t.shape)}|{t.dtype}|'.encode())
        # reshape: a 0-d tensor cannot be viewed as bytes directly
        digest.update(
            t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel(
            ) else b'')
    return digest.hexdigest()


def _payload_checksum(tensors: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].contiguous()
        digest.update(key.encode())
        # reshape: a 0-d tensor cannot be viewed as bytes directly
        digest.update(
            t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel(
            ) else b'')
    return digest.hexdigest()


def _non_finite(t: Optional[torch.Tensor]) -> int:
    """Number of NaN/Inf entries of a floating-point tensor (0 otherwise)."""
    if t is None or not t.is_floating_point() or t.numel() == 0:
        return 0
    return int((~torch.isfinite(t.detach())).sum())


def _refuse_non_finite(what: str, name: str, t: Optional[torch.Tensor],
                       action: str) -> None:
    n = _non_finite(t)
    if n:
        raise PatchError(f'{what} `{name}` holds {n:,} NaN/Inf value'
                         f'{"s" if n > 1 else ""} (of {t.numel():,}): '
                         f'{action}')


class Patch:
    """Sparse residuals + dense tensors + metadata for one adapted model.

    Args:
        sparse (dict[str, SparseEntry]): residuals keyed by tensor name.
        dense (dict[str, Tensor]): tensors stored whole (e.g. task head).
        meta (dict): ``base_sha256`` (identity of the base tensors), and
            free-form fields such as ``arch``, ``tau``, ``dsp``.
    """

    def __init__(self, sparse: Dict[str, SparseEntry],
                 dense: Dict[str, torch.Tensor], meta: dict):
        self.sparse = sparse
        self.dense = dense
        self.meta = meta
        self._num_bytes = None

    def check_finite(self, action: str = 'refusing this patch') -> None:
        """Raise :class:`PatchError` naming the first tensor whose stored
        values (residuals, exact overrides, base overrides, dense tensors)
        hold NaN or Inf."""
        for name, e in self.sparse.items():
            for values in (e.values, e.exact_values, e.base_values):
                _refuse_non_finite('patch tensor', name, values, action)
        for name, t in self.dense.items():
            _refuse_non_finite('patch dense tensor', name, t, action)

    @property
    def nnz(self) -> int:
        """Number of stored residual values."""
        return sum(e.nnz for e in self.sparse.values())

    @property
    def dsp(self) -> int:
        """Domain-specific parameters (:func:`count_dsp`): residual nonzeros
        + the elements of the tensors stored whole."""
        return count_dsp((t.numel() for t in self.dense.values()), self.nnz)

    @property
    def num_bytes(self) -> int:
        """Size of the serialised patch file in bytes."""
        if self._num_bytes is None:
            self._num_bytes = len(self.to_bytes())
        return self._num_bytes

    # serialisation -------------------------------------------------------
    def _tensors_and_meta(self):
        tensors, entries = {}, {}
        for name, e in self.sparse.items():
            tensors[f'sparse/{name}/pos'] = torch.from_numpy(
                encode_positions(e.positions.numpy()))
            tensors[f'sparse/{name}/val'] = e.values.contiguous()
            if e.exact_positions.numel():
                tensors[f'sparse/{name}/exact_pos'] = e.exact_positions
                tensors[f'sparse/{name}/exact_val'] = e.exact_values
            if e.base_positions.numel():
                tensors[f'sparse/{name}/base_pos'] = e.base_positions
                tensors[f'sparse/{name}/base_val'] = e.base_values
            entries[name] = dict(
                shape=list(e.shape),
                dtype=str(e.dtype).replace('torch.', ''),
                nnz=e.nnz)
        for name, t in self.dense.items():
            tensors[f'dense/{name}'] = t.detach().cpu().contiguous()
        meta = dict(
            self.meta,
            entries=entries,
            dense=sorted(self.dense),
            nnz=self.nnz,
            dsp=self.dsp,
            payload_sha256=_payload_checksum(tensors))
        return tensors, meta

    def to_bytes(self) -> bytes:
        tensors, meta = self._tensors_and_meta()
        return st_save(
            tensors,
            metadata=dict(
                format=FORMAT, version=str(VERSION), meta=json.dumps(meta)))

    def save(self, path: str) -> None:
        """Write the patch atomically (temp file + rename). A patch holding
        NaN/Inf is refused (:class:`PatchError`) and nothing is written."""
        self.check_finite('nothing written')
        data = self.to_bytes()
        atomic_write(path, lambda f: f.write(data))
        self._num_bytes = len(data)

    @classmethod
    def load(cls, path: str) -> 'Patch':
        """Read and verify a patch file; raises :class:`PatchError`."""
        if not osp.isfile(path):
            raise PatchError(f'patch file not found: {path}')
        with open(path, 'rb') as f:
            data = f.read()
        try:
            return cls.from_bytes(data)
        except PatchError as e:
            raise PatchError(f'{path}: {e}') from None

    @classmethod
    def from_bytes(cls, data: bytes) -> 'Patch':
        try:
            tensors = st_load(data)
            header = _read_header(data)
        except (SafetensorError, ValueError, json.JSONDecodeError) as e:
            raise PatchError('not a readable patch file (truncated or '
                             f'corrupt: {str(e).splitlines()[0]})') from None
        try:
            return cls._from_parts(tensors, header, len(data))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise PatchError('corrupt patch metadata '
                             f'({type(e).__name__}: {e})') from None

    @classmethod
    def _from_parts(cls, tensors: dict, header: dict, size: int) -> 'Patch':
        if header.get('format') != FORMAT:
            raise PatchError(f'not an {FORMAT} file')
        if int(header.get('version', -1)) > VERSION:
            raise PatchError(f"patch format version {header['version']} is "
                             f'newer than supported ({VERSION})')
        meta = json.loads(header['meta'])
        if _payload_checksum(tensors) != meta.get('payload_sha256'):
            raise PatchError('payload checksum mismatch (corrupt file)')
        sparse = {}
        for name, info in meta['entries'].items():
            try:
                positions = decode_positions(
                    tensors[f'sparse/{name}/pos'].numpy())
            except ValueError as e:
                raise PatchError(f'tensor {name}: {e}') from None
            exact = f'sparse/{name}/exact_pos'
            sparse[name] = SparseEntry(
                shape=tuple(info['shape']),
                dtype=getattr(torch, info['dtype']),
                positions=torch.from_numpy(positions),
                values=tensors[f'sparse/{name}/val'],
                exact_positions=tensors.get(exact,
                                            torch.zeros(0, dtype=torch.int64)),
                exact_values=tensors.get(f'sparse/{name}/exact_val'),
                base_positions=tensors.get(f'sparse/{name}/base_pos',
                                           torch.zeros(0, dtype=torch.int64)),
                base_values=tensors.get(f'sparse/{name}/base_val'))
        dense = {n: tensors[f'dense/{n}'] for n in meta['dense']}
        for key in ('entries', 'dense', 'nnz', 'dsp', 'payload_sha256'):
            meta.pop(key, None)
        patch = cls(sparse, dense, meta)
        patch._num_bytes = size
        return patch


def _read_header(data: bytes) -> dict:
    if len(data) < 8:
        raise ValueError('file too short')
    n = int.from_bytes(data[:8], 'little')
    header = json.loads(data[8:8 + n])
    return header.get('__metadata__', {})


def make_patch(model_or_state_dict: Union[nn.Module, Mapping],
               base_state_dict: Mapping[str, torch.Tensor],
               names: Optional[Sequence[str]] = None,
               dense: Sequence[str] = (),
               value_dtype: str = 'float32',
               **meta) -> Patch:
    """Build the sparse residual patch of a trained model against its base.

    Args:
        model_or_state_dict: the trained model (or its state dict).
        base_state_dict: the pretrained base tensors (w0).
        names (Sequence[str], optional): tensors to store sparsely. None:
            every floating-point tensor (outside ``dense``) that differs.
        dense (Sequence[str]): name prefixes stored whole (e.g.
            ``('task_head',)``).
        value_dtype (str): ``'float32'`` (bit-exact) or the lossy
            ``'float16'``/``'bfloat16'``. Defaults to 'float32'.
        **meta: extra metadata (``arch``, ``tau``...), JSON-serialisable.

    Raises:
        PatchError: a selected trained or base tensor, or a dense tensor,
            holds NaN/Inf (named in the message): a diverged model makes no
            patch.

    Example:
        >>> patch = make_patch(model, base_sd, dense=('task_head',),
        ...                    arch='RN50/openai', tau=1e-6)
        >>> patch.save('work_dirs/art2clipart.patch')
    """
    if value_dtype not in VALUE_DTYPES:
        raise ValueError(f"value_dtype must be one of {list(VALUE_DTYPES)}, "
                         f"got '{value_dtype}'")
    state = _state_of(model_or_state_dict)
    dense_names = [n for n in state if _starts_with(n, dense)]
    if names is None:
        names = [
            n for n, t in state.items()
            if n not in dense_names and t.is_floating_point() and n in
            base_state_dict and not torch.equal(t.detach(), base_state_dict[n])
        ]
    for name in names:
        if name not in state:
            raise KeyError(f'tensor `{name}` is not in the trained model')
        if name not in base_state_dict:
            raise KeyError(f'tensor `{name}` is not in the base state dict')
        _refuse_non_finite('trained tensor', name, state[name],
                           'no patch is made from a non-finite model')
        _refuse_non_finite('base tensor', name, base_state_dict[name],
                           'no patch is made against a non-finite base')
    for name in dense_names:
        _refuse_non_finite('dense tensor', name, state[name],
                           'no patch is made from a non-finite model')
    sparse = {}
    for name in names:
        sparse[name] = _sparse_entry(state[name].detach(),
                                     base_state_dict[name],
                                     VALUE_DTYPES[value_dtype], name)
    meta = dict(
        meta,
        value_dtype=value_dtype,
        base_sha256=tensors_checksum(base_state_dict, sparse))
    return Patch(sparse,
                 {n: state[n].detach().cpu().clone()
                  for n in dense_names}, meta)


def _sparse_entry(w: torch.Tensor, w0: torch.Tensor, value_dtype: torch.dtype,
                  name: str) -> SparseEntry:
    if w.shape != w0.shape:
        raise ValueError(f'tensor `{name}`: shape {tuple(w.shape)} differs '
                         f'from the base {tuple(w0.shape)}')
    shape, dtype = tuple(w.shape), w.dtype
    w = w.cpu().reshape(-1)
    w0 = w0.detach().cpu().reshape(-1).to(dtype)
    pos = torch.nonzero(w != w0).view(-1)
    residual = (w[pos] - w0[pos]).to(value_dtype)
    entry = SparseEntry(shape, dtype, pos, residual)
    if value_dtype == torch.float32 and dtype == torch.float32:
        inexact = (w0[pos] + residual) != w[pos]
        entry.exact_positions = pos[inexact]
        entry.exact_values = w[pos][inexact].clone()
        base_inexact = (w[pos] - residual) != w0[pos]
        entry.base_positions = pos[base_inexact]
        entry.base_values = w0[pos][base_inexact].clone()
    return entry


# applying ------------------------------------------------------------------
# values overwritten by apply_patch, per model and patch, for exact removal
_UNDO: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def _check_fits(state: Mapping[str, torch.Tensor], patch: Patch) -> None:
    for name, e in patch.sparse.items():
        if name not in state:
            raise PatchError(f'patch tensor `{name}` is not in the model')
        t = state[name]
        if tuple(t.shape) != tuple(e.shape) or t.dtype != e.dtype:
            raise PatchError(
                f'patch tensor `{name}` is {tuple(e.shape)}/{e.dtype}, the '
                f'model has {tuple(t.shape)}/{t.dtype}')
        if e.nnz and int(e.positions[-1]) >= t.numel():
            raise PatchError(f'patch tensor `{name}`: position out of range')
    for name, d in patch.dense.items():
        if name not in state or tuple(state[name].shape) != tuple(d.shape):
            raise PatchError(f'patch dense tensor `{name}` does not match '
                             'the model')


def _check_finite(state: Mapping[str, torch.Tensor], patch: Patch) -> None:
    patch.check_finite('refusing to apply it')
    for name in patch.sparse:
        _refuse_non_finite(
            'model tensor', name, state[name],
            'the base to patch is not finite; refusing to '
            'apply the patch')


def _check_base(state: Mapping[str, torch.Tensor], patch: Patch) -> None:
    if tensors_checksum(state, patch.sparse) != patch.meta.get('base_sha256'):
        raise PatchError(
            'the model is not the base this patch was made for (checksum '
            f"of the {len(patch.sparse)} patched tensors differs; "
            f"patch base arch: {patch.meta.get('arch', 'unknown')})")


@torch.no_grad()
def _apply_unchecked(model: nn.Module, state: Mapping[str, torch.Tensor],
                     patch: Patch) -> None:
    undo = {}
    for name, e in patch.sparse.items():
        flat = state[name].data.view(-1)
        pos = e.positions.to(flat.device)
        undo[name] = flat.index_select(0, pos)  # gather: faster than flat[pos]
        flat.index_add_(0, pos, e.values.to(flat.device, flat.dtype))
        if e.exact_positions.numel():
            flat.index_copy_(0, e.exact_positions.to(flat.device),
                             e.exact_values.to(flat.device, flat.dtype))
    for name, d in patch.dense.items():
        undo[name] = state[name].data.clone()
        state[name].data.copy_(d)
    _UNDO.setdefault(model, weakref.WeakKeyDictionary())[patch] = undo


def apply_patch(model: nn.Module, patch: Patch) -> None:
    """Add the patch's residuals to ``model`` (which must be at the patch's
    base) and load its dense tensors. Bit-exact for float32 patches. On any
    mismatch, or NaN/Inf in the patch or in the patched model tensors, a
    :class:`PatchError` naming the tensor is raised before anything
    changes."""
    state = _state_of(model)
    _check_fits(state, patch)
    _check_finite(state, patch)
    _check_base(state, patch)
    _apply_unchecked(model, state, patch)


@torch.no_grad()
def remove_patch(model: nn.Module, patch: Patch) -> None:
    """Restore the base values that :func:`apply_patch` replaced (exactly).

    For a model patched elsewhere (e.g. loaded already patched), the base
    is recomputed as ``w - residual`` (with the patch's exact base
    overrides) and verified against the patch's base checksum; the model is
    left unchanged if that fails. Dense tensors have no base copy in the
    patch and then keep their patched values.
    """
    state = _state_of(model)
    _check_fits(state, patch)
    undo = _UNDO.get(model, {}).pop(patch, None)
    if undo is None:
        undo = {}
        for name, e in patch.sparse.items():
            flat = state[name].data.view(-1)
            pos = e.positions.to(flat.device)
            base = flat[pos] - e.values.to(flat.device, flat.dtype)
            if e.base_positions.numel():
                at = torch.searchsorted(pos, e.base_positions.to(pos.device))
                base[at] = e.base_values.to(base.device, base.dtype)
            undo[name] = base
        trial = {n: state[n].detach().clone() for n in patch.sparse}
        for name, e in patch.sparse.items():
            trial[name].view(-1)[e.positions] = undo[name].cpu()
        if tensors_checksum(trial, trial) != patch.meta.get('base_sha256'):
            raise PatchError('cannot restore the base exactly: this model '
                             'was not patched by this patch')
    for name, e in patch.sparse.items():
        flat = state[name].data.view(-1)
        flat.index_copy_(0, e.positions.to(flat.device),
                         undo[name].to(flat.device))
    for name in patch.dense:
        if name in undo:
            state[name].data.copy_(undo[name])


class PatchStore:
    """Many domain patches for one base model, swapped in O(nnz).

    The base identity is checked once per patch when it is added (checksum
    comparison); switching domains then only touches the patched positions.

    Example:
        >>> store = PatchStore(model)          # model holds the base weights
        >>> store.add('clipart', Patch.load('art2clipart.patch'))
        >>> store.add('product', Patch.load('art2product.patch'))
        >>> store.activate('clipart'); model(x)
        >>> store.activate('product'); model(x)
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.patches: Dict[str, Patch] = {}
        self.active: Optional[str] = None
        self._checked: Dict[tuple, bool] = {}

    def add(self, key: str, patch: Patch) -> None:
        state = _state_of(self.model)
        _check_fits(state, patch)
        patch.check_finite(f"refusing patch '{key}'")
        names = tuple(sorted(patch.sparse))
        if names not in self._checked:
            if self.active is not None:
                raise PatchError(
                    f"patch '{key}' touches tensors no earlier patch did: add "
                    'it while no patch is active (activate(None) first), so '
                    'its base can be checked')
            self._checked[names] = tensors_checksum(state, names)
        if self._checked[names] != patch.meta.get('base_sha256'):
            raise PatchError(f"patch '{key}' was made for a different base")
        self.patches[key] = patch

    def activate(self, key: Optional[str]) -> None:
        """Switch to patch ``key`` (None: back to the base)."""
        if key is not None and key not in self.patches:
            raise KeyError(f"unknown patch '{key}'")
        if key == self.active:
            return
        if self.active is not None:
            remove_patch(self.model, self.patches[self.active])
            self.active = None
        if key is not None:
            patch = self.patches[key]
            _apply_unchecked(self.model, _state_of(self.model), patch)
            self.active = key
