"""mmvlpuda: vision-language pre-training for unsupervised domain adaptation
(CMKD and RST) on OpenMMLab.

Importing the package first installs the compatibility fixes of
:mod:`mmvlpuda.utils.compat` (``mmcv._ext`` stand-in for mmcv-lite, trusted
checkpoint loading for mmengine 0.10.7 under torch >= 2.6), then registers
every module.
"""
from .utils.compat import apply_all as _apply_compat_fixes

_apply_compat_fixes()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
