"""mmvlpuda: vision-language pre-training for unsupervised domain adaptation
(CMKD and RST) on OpenMMLab.

Importing the package imports none of its subpackages and changes nothing
in other libraries. Modules register when first needed: a config in the
``mmvlpuda`` scope, or a ``type='mmvlpuda.X'`` from any scope, imports them
through the registries' ``locations`` (:mod:`mmvlpuda.registry`);
:func:`mmvlpuda.utils.register_all_modules` imports them all. The
compatibility fixes of :mod:`mmvlpuda.utils.compat` are applied where they
are needed (``mmvlpuda.models``/``mmvlpuda.datasets``, the tools) and logged.
``mmvlpuda.sparse`` (patches, serving) needs torch, numba and safetensors
only.
"""
from .version import __version__

__all__ = ['__version__']
