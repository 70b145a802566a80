"""Fixes for the pinned OpenMMLab stack. Nothing here runs on
``import mmvlpuda``: each fix is applied where it is needed, only on the
versions it is for, and logged once when it changes something.

* ``mmcv._ext`` stand-in (:func:`install_mmcv_ext_standin`): mmcv-lite ships
  no compiled ops, yet mmseg/mmdet import ``mmcv.ops`` at module level. The
  stand-in lets them import so their pure-PyTorch code paths run; calling a
  compiled op raises a clear error. Installed by ``mmvlpuda.models`` and
  ``mmvlpuda.datasets`` (they import mmseg), i.e. by the configs'
  ``custom_imports``, and only when mmcv has no compiled ops.
* Deformable attention on a GPU with mmcv-lite
  (:func:`use_msda_pytorch_fallback`): mmcv 2.1's
  ``MultiScaleDeformableAttention`` (Mask2Former's pixel decoder) calls the
  compiled ``ms_deform_attn_forward`` whenever its input is on CUDA, which
  the stand-in cannot provide. With the stand-in (and only with mmcv 2.1.x)
  its dispatch is pointed at mmcv's own ``multi_scale_deformable_attn_pytorch``
  on every device. Full mmcv keeps its compiled kernel.
* Trusted checkpoint loading (:func:`patch_mmengine_checkpoint_loading`):
  mmengine <= 0.10.7 calls ``torch.load`` without ``weights_only``; torch
  >= 2.6 defaults to ``weights_only=True`` and refuses mmengine's own
  checkpoints (``HistoryBuffer`` in the message hub), which breaks
  ``--resume`` and ``load_from``. mmengine's checkpoint module gets a
  ``torch`` whose ``load`` defaults to ``weights_only=False`` (checkpoints
  are trusted local files, as in later mmengine). Applied by the tools.
* CPU distributed launch (:func:`patch_mmengine_cpu_dist_init`): mmengine
  <= 0.10.7's PyTorch launcher calls ``torch.cuda.set_device`` even for the
  gloo backend, so ``tools/dist_train.sh`` could not run on CPU. Without
  CUDA it now only initialises the process group. Applied by
  :func:`mmvlpuda.utils.launch.setup_cpu_distributed` (the tools).

:func:`apply_runtime_fixes` applies all of them (``tools/*.py``). mmpretrain
1.2.0's multimodal models need ``transformers<4.52``: that is pinned in
``setup.py``, nothing is patched for it.
"""
import importlib
import importlib.machinery
import importlib.util
import logging
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
        return _is_standin(existing)
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


def _log(message: str) -> None:
    from mmengine.logging import print_log
    print_log(message, logger='current', level=logging.WARNING)


def _is_standin(module) -> bool:
    return bool(getattr(module, '__mmvlpuda_standin__', False))


def use_msda_pytorch_fallback() -> bool:
    """Run mmcv's ``MultiScaleDeformableAttention`` through its PyTorch
    implementation on every device when mmcv has no compiled ops.

    mmcv 2.1.0 dispatches on ``IS_CUDA_AVAILABLE and value.is_cuda`` (and
    the MLU analogue), module constants of ``mmcv.ops.multi_scale_deform_attn``
    used for nothing else; with the ``mmcv._ext`` stand-in they are set to
    False there, so ``multi_scale_deformable_attn_pytorch`` (grid_sample,
    slower than the CUDA kernel) runs instead of raising
    :class:`MissingCompiledOpError`. Nothing changes with full mmcv, with
    another mmcv version, or on a machine where those constants are
    already False (CPU). Logged once, when it changes the dispatch.

    Returns:
        bool: True if the PyTorch implementation is now used on every
        device because of this call or an earlier one.
    """
    if not _is_standin(sys.modules.get(_STANDIN_NAME)):
        return False
    import mmcv
    if not mmcv.__version__.startswith('2.1.'):
        return False
    msda = importlib.import_module('mmcv.ops.multi_scale_deform_attn')
    if getattr(msda, '__mmvlpuda_pytorch_fallback__', False):
        return True
    flags = [
        f for f in ('IS_CUDA_AVAILABLE', 'IS_MLU_AVAILABLE')
        if getattr(msda, f, False)
    ]
    if not flags:
        return False
    for flag in flags:
        setattr(msda, flag, False)
    msda.__mmvlpuda_pytorch_fallback__ = True
    _log(f'mmvlpuda: mmcv {mmcv.__version__} has no compiled ops (mmcv-lite'
         '): MultiScaleDeformableAttention uses mmcv\'s PyTorch '
         'implementation (multi_scale_deformable_attn_pytorch) on '
         f'{"/".join(f[3:-10] for f in flags)} too (slower than the '
         f'compiled kernel; {_FULL_MMCV_HINT})')
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


def _version(text: str) -> tuple:
    return tuple(
        int(p) for p in text.split('+')[0].split('.')[:3] if p.isdigit())


def _mmengine_needs_fixes() -> bool:
    import mmengine
    return _version(mmengine.__version__) <= (0, 10, 7)


def patch_mmengine_checkpoint_loading() -> bool:
    """Make mmengine <= 0.10.7 checkpoints loadable under torch >= 2.6.

    Returns:
        bool: True if mmengine's checkpoint loading uses the trusted load
        (now or already).
    """
    import torch
    if not _mmengine_needs_fixes() or _version(torch.__version__) < (2, 6):
        return False
    ckpt = importlib.import_module('mmengine.runner.checkpoint')
    if not isinstance(ckpt.torch, _TorchWithTrustedLoad):
        ckpt.torch = _TorchWithTrustedLoad(ckpt.torch)
        _log('mmvlpuda: mmengine <= 0.10.7 under torch >= 2.6: checkpoints '
             'load with weights_only=False (trusted local files, as later '
             'mmengine)')
    return True


def patch_mmengine_cpu_dist_init() -> bool:
    """Skip ``torch.cuda.set_device`` in mmengine <= 0.10.7's PyTorch
    launcher when CUDA is unavailable (CPU training with gloo).

    Returns:
        bool: True if the launcher is (now or already) patched.
    """
    import torch
    if not _mmengine_needs_fixes() or torch.cuda.is_available():
        return False
    dist_utils = importlib.import_module('mmengine.dist.utils')
    original = dist_utils._init_dist_pytorch
    if getattr(original, '__mmvlpuda_patched__', False):
        return True

    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        import torch
        import torch.distributed as torch_dist
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        torch_dist.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch.__mmvlpuda_patched__ = True
    dist_utils._init_dist_pytorch = init_dist_pytorch
    _log('mmvlpuda: no CUDA: mmengine <= 0.10.7\'s PyTorch launcher '
         'initialises the process group without torch.cuda.set_device')
    return True


def require_mmcv_ops() -> None:
    """What a module importing mmseg/mmdet needs first: the ``mmcv._ext``
    stand-in when mmcv has no compiled ops (and then the deformable
    attention fallback on GPUs). Does nothing with full mmcv."""
    if install_mmcv_ext_standin():
        use_msda_pytorch_fallback()


def apply_runtime_fixes() -> None:
    """Every fix of this module that applies to the installed versions
    (the tools call it before building a Runner)."""
    require_mmcv_ops()
    patch_mmengine_checkpoint_loading()
    patch_mmengine_cpu_dist_init()
