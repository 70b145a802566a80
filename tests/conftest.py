import os
import os.path as osp

os.environ['HF_HUB_OFFLINE'] = '1'  # a missing CLIP weight fails fast

import logging  # noqa: E402

import pytest  # noqa: E402
from mmengine import DefaultScope  # noqa: E402
from mmengine.logging import MessageHub, MMLogger  # noqa: E402
from mmengine.visualization import Visualizer  # noqa: E402

from mmvlpuda.utils.compat import require_mmcv_ops  # noqa: E402

# with mmcv-lite, before any test module imports mmseg/mmdet (what the
# configs' custom_imports of mmvlpuda.models/datasets do for a Runner)
require_mmcv_ops()

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session', autouse=True)
def mmvlpuda_scope():
    """Register mmvlpuda, set its scope and apply the runtime fixes the
    tools apply (tests drive the Runner as tools/train.py does)."""
    from mmvlpuda.utils import apply_runtime_fixes, register_all_modules
    apply_runtime_fixes()
    register_all_modules(init_default_scope=True)
    yield


@pytest.fixture
def repo_root():
    return REPO_ROOT


@pytest.fixture
def isolated_runner_state():
    """Undo the global state a Runner leaves behind (scope, message hub,
    visualizer, loggers and their file handlers)."""
    managers = (DefaultScope, MessageHub, Visualizer, MMLogger)
    saved = {m: m._instance_dict.copy() for m in managers}
    try:
        yield
    finally:
        for name, logger in list(MMLogger._instance_dict.items()):
            if name in saved[MMLogger]:
                continue
            for handler in list(logger.handlers):
                if isinstance(handler, logging.FileHandler):
                    handler.close()
                    logger.removeHandler(handler)
        for m in managers:
            m._instance_dict.clear()
            m._instance_dict.update(saved[m])


@pytest.fixture
def seg_trees(tmp_path):
    """Tiny Cityscapes / GTA5 / ACDC trees (see tests/seg_data.py):
    ``dict(cityscapes=..., gta=..., acdc=..., acdc_flat=...)`` root paths."""
    from seg_data import make_seg_trees
    return make_seg_trees(tmp_path / 'seg_data')
