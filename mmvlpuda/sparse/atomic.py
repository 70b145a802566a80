"""Atomic file writes (temp file in the same folder + ``os.replace``), so an
interrupted writer never leaves a truncated file behind."""
import os
import os.path as osp
import tempfile
from typing import Any, Callable


def atomic_write(path: str, write: Callable[[Any], None]) -> None:
    """Call ``write(f)`` on a binary temp file next to ``path``, then
    rename it to ``path``; on any error nothing is left behind."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-')
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise
