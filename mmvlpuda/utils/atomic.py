"""Atomic file writes (temp file in the same folder + ``os.replace``), so an
interrupted writer never leaves a truncated patch, label or JSON file.
:func:`atomic_write` lives in :mod:`mmvlpuda.sparse.atomic` (the serving
path depends on nothing else of mmvlpuda)."""
import json
from typing import Any

import numpy as np
from PIL import Image

from mmvlpuda.sparse.atomic import atomic_write

__all__ = ['atomic_write', 'save_json_atomic', 'save_label_png_atomic']


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
