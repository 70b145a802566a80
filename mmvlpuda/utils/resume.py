"""Resume that survives a damaged checkpoint.

mmengine's auto-resume takes the checkpoint named in ``work_dir/
last_checkpoint`` and fails with torch's raw ``PytorchStreamReader failed
reading zip archive`` traceback when that file is truncated (e.g. the job
was killed while saving it; ``CheckpointHook`` also removes the oldest kept
checkpoint *before* writing the new one). :func:`find_resumable_checkpoint`
tries the newest checkpoint first and falls back to the next newest one that
torch can read, saying so in one line; ``tools/train.py --resume`` uses it.
"""
import os
import os.path as osp
import re
import zipfile
from typing import Callable, List, Optional

import torch

CKPT_NAME = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


class CheckpointError(RuntimeError):
    """No readable checkpoint to resume from (one-line message)."""


def checkpoint_error(path: str) -> Optional[str]:
    """Why torch cannot read the checkpoint ``path``, in a few words, or
    ``None`` if it can.

    It is first opened with ``mmap=True`` (zip checkpoints, i.e. every
    ``torch.save`` since torch 1.6): the zip directory and the pickle are
    read, the tensor data is not, so the check costs little even for large
    checkpoints. If that fails (a legacy-format file, or a damaged one) a
    plain ``torch.load`` decides, and its error is the reason given. A
    truncated file has lost the zip directory at its end and fails, as it
    would in ``Runner.resume``.
    """
    if not osp.isfile(path):
        return 'file not found'
    if osp.getsize(path) == 0:
        return 'empty file'
    try:
        torch.load(path, map_location='cpu', weights_only=False, mmap=True)
        return None
    except Exception:  # noqa: BLE001
        pass  # legacy (non-zip) format, or damaged: torch says which below
    try:
        torch.load(path, map_location='cpu', weights_only=False)
    except Exception as e:  # noqa: BLE001 - any failure means unreadable
        reason = describe_load_error(e)
        if _truncated_zip(path):  # torch's error alone can be cryptic
            reason = ('truncated, no zip directory at its end; torch: '
                      f'{reason}')
        return reason
    return None


def _truncated_zip(path: str) -> bool:
    """A zip file (``torch.save``) without its end-of-archive record."""
    with open(path, 'rb') as f:
        starts_as_zip = f.read(4) == b'PK\x03\x04'
    return starts_as_zip and not zipfile.is_zipfile(path)


def describe_load_error(e: BaseException) -> str:
    """``torch.load``'s exception in one short line, e.g. ``RuntimeError:
    PytorchStreamReader failed reading zip archive: failed finding central
    directory`` (without torch's multi-sentence hint)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ''
    # torch's zip errors continue with a long hint after the first '. '
    text = text.split('. ')[0].rstrip('.')
    return f'{type(e).__name__}: {text}' if text else type(e).__name__


def check_checkpoint(path: str) -> str:
    """Return ``path`` if torch can read it, else raise
    :class:`CheckpointError` naming it (for ``--resume PATH``)."""
    error = checkpoint_error(path)
    if error is not None:
        raise CheckpointError(f'cannot resume from {path}: not a readable '
                              f'checkpoint ({error})')
    return path


def _step(path: str) -> int:
    match = CKPT_NAME.match(osp.basename(path))
    return int(match.group(2)) if match else -1


def checkpoint_candidates(work_dir: str) -> List[str]:
    """Checkpoints of ``work_dir`` to resume from, newest first: the one
    named in ``last_checkpoint`` (mmengine's pointer to the latest save),
    then every ``iter_N.pth`` / ``epoch_N.pth`` by decreasing N."""
    if not osp.isdir(work_dir):
        return []
    found = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            last = f.read().strip()
        if last:
            # a moved work dir: the pointer's absolute path is stale
            local = osp.join(work_dir, osp.basename(last))
            found.append(
                last if osp.isfile(last) or not osp.isfile(local) else local)
    named = sorted((osp.join(work_dir, name)
                    for name in os.listdir(work_dir) if CKPT_NAME.match(name)),
                   key=lambda p: (_step(p), osp.getmtime(p)),
                   reverse=True)
    seen = {osp.realpath(p) for p in found}
    found += [p for p in named if osp.realpath(p) not in seen]
    return found


def find_resumable_checkpoint(
        work_dir: str,
        log: Optional[Callable[[str], None]] = None) -> Optional[str]:
    """The newest checkpoint of ``work_dir`` that torch can read.

    Unreadable ones (truncated, empty, missing) are skipped and reported in
    one line through ``log`` (default: mmengine's current logger, warning),
    e.g. ``--resume: work_dirs/x/iter_600.pth cannot be read (truncated, no
    zip directory at its end; torch: RuntimeError: PytorchStreamReader
    failed reading zip archive: failed finding central directory); resuming
    from the newest readable checkpoint, work_dirs/x/iter_400.pth``.

    Returns:
        str | None: the checkpoint, or None if the work dir has none (a
        fresh run).

    Raises:
        CheckpointError: checkpoints exist but none can be read.
    """
    if log is None:
        import logging

        from mmengine.logging import print_log

        def log(msg):
            print_log(msg, logger='current', level=logging.WARNING)

    skipped = []
    for path in checkpoint_candidates(work_dir):
        error = checkpoint_error(path)
        if error is None:
            if skipped:
                log(f'--resume: {"; ".join(skipped)}; resuming from the '
                    f'newest readable checkpoint, {path}')
            return path
        skipped.append(f'{path} cannot be read ({error})')
    if skipped:
        raise CheckpointError(f'--resume: no readable checkpoint in '
                              f'{work_dir}: {"; ".join(skipped)}')
    return None
