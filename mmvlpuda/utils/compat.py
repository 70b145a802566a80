"""Fixes for the pinned OpenMMLab stack, applied once by ``import mmvlpuda``.

* ``mmcv._ext`` stand-in: mmcv-lite ships no compiled ops, yet mmseg/mmdet
  import ``mmcv.ops`` at module level. The stand-in lets them import so their
  pure-PyTorch code paths run; calling a compiled op raises a clear error.
* mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; torch >= 2.6
  defaults to ``weights_only=True`` and refuses mmengine's own checkpoints
  (``HistoryBuffer`` in the message hub), which breaks ``--resume`` and
  ``load_from``. mmengine's checkpoint module gets a ``torch`` whose ``load``
  defaults to ``weights_only=False`` (checkpoints are trusted local files, as
  in mmengine > 0.10.7).
* mmengine's PyTorch launcher calls ``torch.cuda.set_device`` even for the
  gloo backend, so ``tools/dist_train.sh`` could not run on CPU. Without CUDA
  it now only initialises the process group.
* mmpretrain 1.2.0 enables its multimodal models whenever ``transformers``
  is importable, but they fail to import with transformers >= 5 (pulled in
  by ``peft``), taking ``mmpretrain.models`` down. mmvlpuda uses open_clip
  for CLIP, so mmpretrain's multimodal models are switched off in that case.
"""
import importlib
import importlib.machinery
import importlib.util
import sys
import types
import warnings

_STANDIN_NAME = 'mmcv._ext'
_FULL_MMCV_HINT = (
    'install full mmcv with compiled ops for your torch/CUDA (for torch 2.14 '
    'on CPU: `make mmcv-full` in the mmvlpuda repository)')


class MissingCompiledOpError(RuntimeError):
    """A compiled mmcv op was called but only mmcv-lite is installed."""


def _make_missing_op(name: str):

    def missing_op(*args, **kwargs):
        raise MissingCompiledOpError(
            f'mmcv compiled op `{name}` is not available: mmcv._ext is '
            f'missing (mmcv-lite is installed); {_FULL_MMCV_HINT}')

    missing_op.__name__ = name
    return missing_op


def _standin_getattr(name: str):
    if name.startswith('__'):
        raise AttributeError(name)
    return _make_missing_op(name)


def _has_compiled_mmcv_ops() -> bool:
    try:
        return importlib.util.find_spec(_STANDIN_NAME) is not None
    except (ImportError, ValueError):
        return False


def install_mmcv_ext_standin() -> bool:
    """Install the ``mmcv._ext`` stand-in if mmcv has no compiled ops.

    Returns:
        bool: True if the stand-in is (now or already) installed.
    """
    existing = sys.modules.get(_STANDIN_NAME)
    if existing is not None:
        return bool(getattr(existing, '__mmvlpuda_standin__', False))
    if importlib.util.find_spec('mmcv') is None or _has_compiled_mmcv_ops():
        return False
    module = types.ModuleType(_STANDIN_NAME)
    module.__doc__ = 'mmvlpuda stand-in for the compiled ops of full mmcv.'
    module.__mmvlpuda_standin__ = True
    module.__getattr__ = _standin_getattr
    # no loader: mmengine's mmcv_full_available() correctly reports False
    module.__spec__ = importlib.machinery.ModuleSpec(_STANDIN_NAME, None)
    sys.modules[_STANDIN_NAME] = module
    warnings.warn(
        'mmcv compiled ops (mmcv._ext) are missing; mmvlpuda installed a '
        'stand-in so mmseg/mmdet import and use their PyTorch fallbacks. '
        f'Calling a compiled op raises an error; {_FULL_MMCV_HINT}.',
        stacklevel=2)
    return True


class _TorchWithTrustedLoad(types.ModuleType):
    """``torch`` proxy whose ``load`` defaults to ``weights_only=False``."""

    def __init__(self, torch_module):
        super().__init__('torch')
        self._torch = torch_module

    def __getattr__(self, name):
        return getattr(self._torch, name)

    def load(self, *args, **kwargs):
        kwargs.setdefault('weights_only', False)
        return self._torch.load(*args, **kwargs)


def patch_mmengine_checkpoint_loading() -> None:
    """Make mmengine 0.10.7 checkpoints loadable under torch >= 2.6."""
    ckpt = importlib.import_module('mmengine.runner.checkpoint')
    if not isinstance(ckpt.torch, _TorchWithTrustedLoad):
        ckpt.torch = _TorchWithTrustedLoad(ckpt.torch)


def patch_mmengine_cpu_dist_init() -> None:
    """Skip ``torch.cuda.set_device`` in mmengine's PyTorch launcher when
    CUDA is unavailable (CPU training with gloo)."""
    dist_utils = importlib.import_module('mmengine.dist.utils')
    original = dist_utils._init_dist_pytorch
    if getattr(original, '__mmvlpuda_patched__', False):
        return

    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        import torch
        import torch.distributed as torch_dist
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        torch_dist.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch.__mmvlpuda_patched__ = True
    dist_utils._init_dist_pytorch = init_dist_pytorch


def disable_broken_mmpretrain_multimodal() -> bool:
    """Switch off mmpretrain's multimodal models under transformers >= 5.

    Returns:
        bool: True if they were switched off.
    """
    if 'mmpretrain.models' in sys.modules:
        return False
    try:
        from importlib.metadata import version
        major = int(version('transformers').split('.')[0])
    except Exception:  # not installed or unparsable version
        return False
    if major < 5:
        return False
    dependency = importlib.import_module('mmpretrain.utils.dependency')
    dependency.WITH_MULTIMODAL = False
    return True


def apply_all() -> None:
    install_mmcv_ext_standin()
    patch_mmengine_checkpoint_loading()
    patch_mmengine_cpu_dist_init()
    disable_broken_mmpretrain_multimodal()
