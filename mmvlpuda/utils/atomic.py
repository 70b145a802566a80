"""Atomic file writes (temp file in the same folder + ``os.replace``), so an
interrupted writer never leaves a truncated patch, label or JSON file."""
import json
import os
import os.path as osp
import tempfile
from typing import Any, Callable

import numpy as np
from PIL import Image


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


def save_json_atomic(obj: Any, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    data = json.dumps(obj).encode('utf-8')
    atomic_write(path, lambda f: f.write(data))


def save_label_png_atomic(label: np.ndarray, path: str) -> None:
    """Write a 2-D uint8 label map as an 'L' PNG to ``path`` atomically."""
    label = np.ascontiguousarray(label, dtype=np.uint8)
    if label.ndim != 2:
        raise ValueError(f'{path}: a label map must be 2-D, got shape '
                         f'{label.shape}')
    image = Image.fromarray(label)  # 2-D uint8 -> mode 'L'
    atomic_write(path, lambda f: image.save(f, format='PNG'))
