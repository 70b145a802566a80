from typing import Iterator, Tuple

import torch
from mmengine.dataset import InfiniteSampler

from mmvlpuda.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class UDAInfiniteSampler(InfiniteSampler):
    """Endless ``(source index, target index)`` pairs for :class:`UDADataset`.

    Source and target are each shuffled without replacement, independently:
    every pass over a domain is a fresh random permutation of it, as the
    official loaders' two ``InfiniteDataLoader`` streams
    (``RandomSampler(replacement=False)`` per domain, ``utils/data_loader.py``
    of Wenlve-Zhou/VLP-UDA). The sampler runs in the main process, so the
    guarantee holds across dataloader workers; under DDP the pair stream is
    split between ranks like mmengine's :class:`InfiniteSampler`.

    Args:
        dataset (UDADataset): the paired dataset (needs ``source`` and
            ``target``).
        shuffle (bool): shuffle each pass; False walks both domains in order.
            Defaults to True.
        seed (int, optional): seed of both streams (synchronised between
            ranks when None). Defaults to None.

    Example:
        >>> train_dataloader = dict(
        ...     sampler=dict(type='UDAInfiniteSampler', shuffle=True),
        ...     dataset=dict(type='UDADataset', source=..., target=...))
    """

    def __init__(self, dataset, shuffle: bool = True, seed=None) -> None:
        if not (hasattr(dataset, 'source') and hasattr(dataset, 'target')):
            raise TypeError(
                'UDAInfiniteSampler needs a dataset with `source` and '
                f'`target` (UDADataset), got {type(dataset).__name__}')
        super().__init__(dataset, shuffle=shuffle, seed=seed)

    def _domain_stream(self, size: int, offset: int) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + offset)
        while True:
            order = torch.randperm(size, generator=g) if self.shuffle \
                else torch.arange(size)
            yield from order.tolist()

    def _infinite_indices(self) -> Iterator[Tuple[int, int]]:
        yield from zip(
            self._domain_stream(len(self.dataset.source), 0),
            self._domain_stream(len(self.dataset.target), 1))


__all__ = ['UDAInfiniteSampler']
