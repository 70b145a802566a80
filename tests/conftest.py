import os
import os.path as osp

os.environ['HF_HUB_OFFLINE'] = '1'  # a missing CLIP weight fails fast

import pytest  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session', autouse=True)
def mmvlpuda_scope():
    """Import mmvlpuda (compat fixes + registration) and set its scope."""
    import mmvlpuda  # noqa: F401
    from mmvlpuda.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    yield


@pytest.fixture
def repo_root():
    return REPO_ROOT
