"""Count the calls that would make the host wait for a CUDA device.

On a GPU, reading a tensor's value on the host (``.item()``, ``float(t)``,
``if t:``, ``.tolist()``, ``.cpu()``, ``.numpy()``), data-dependent shapes
(``nonzero``, boolean-mask indexing, ``unique``, ``repeat_interleave``
without ``output_size``) and blocking host<->device copies (``.to(device)``,
``torch.tensor(..., device=...)``) wait for every queued kernel. Reads are
counted wherever the tensors live, so tests can pin the host syncs of a
step on CPU; ``.to``/``.cuda`` count only when they change the device, and
``torch.tensor``/``as_tensor`` whenever a device is given (on a GPU those
copy host data to it)::

    with HostSyncCounter() as syncs:
        model.train_step(data, optim_wrapper)
    assert syncs.total == 0, syncs.calls
"""
from collections import Counter

import torch
from torch.overrides import TorchFunctionMode

# always a device->host read (or a wait for one)
READS = frozenset({
    'item', '__bool__', '__float__', '__int__', '__index__', '__complex__',
    'tolist', 'cpu', 'numpy', 'nonzero', 'argwhere', 'masked_select', 'unique',
    'unique_consecutive', 'allclose', 'equal'
})


def _is_bool_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index, )
    return any(
        isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in items)


def _target_device(name: str, args, kwargs):
    """The device a ``.to``/``.cuda`` call moves to (None: same)."""
    if name == 'cuda':
        return torch.device(
            'cuda', args[0] if args and isinstance(args[0], int) else
            torch.cuda.current_device() if torch.cuda.is_available() else 0)
    for a in list(args) + [kwargs.get('device')]:
        if isinstance(a, (str, torch.device)):
            return torch.device(a)
        if isinstance(a, torch.Tensor):
            return a.device
    return None


def _moves(source: torch.device, target: torch.device) -> bool:
    return source.type != target.type or (target.index is not None
                                          and source.index is not None
                                          and source.index != target.index)


def _kind(name: str, args, kwargs):
    """'read', 'transfer' or None for one torch function call."""
    if name in READS:
        return 'read'
    if name == '__getitem__' and len(args) > 1 and _is_bool_index(args[1]):
        return 'read'
    if name == 'repeat_interleave' and 'output_size' not in kwargs and \
            len(args) > 1 and isinstance(args[1], torch.Tensor):
        return 'read'
    if name in ('to', 'cuda') and isinstance(args[0], torch.Tensor):
        target = _target_device(name, args[1:], kwargs)
        return 'transfer' if target is not None and _moves(
            args[0].device, target) else None
    if name in ('tensor', 'as_tensor') and kwargs.get('device') is not None:
        return 'transfer'
    return None


class HostSyncCounter(TorchFunctionMode):
    """Torch function mode recording the host-syncing calls made inside it.

    Attributes:
        calls (Counter): ``'read:item'``, ``'transfer:to'``... -> count.
    """

    def __init__(self):
        super().__init__()
        self.calls = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, '__name__', '')
        kind = _kind(name, args, kwargs)
        if kind is not None:
            self.calls[f'{kind}:{name}'] += 1
        return func(*args, **kwargs)

    @property
    def reads(self) -> int:
        """Device->host reads (always a sync on CUDA)."""
        return sum(n for k, n in self.calls.items() if k.startswith('read:'))

    @property
    def transfers(self) -> int:
        """Host<->device copies (a sync on CUDA unless non-blocking)."""
        return sum(n for k, n in self.calls.items()
                   if k.startswith('transfer:'))

    @property
    def total(self) -> int:
        return self.reads + self.transfers
