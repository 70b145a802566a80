from .compat import (MissingCompiledOpError, install_mmcv_ext_standin,
                     patch_mmengine_checkpoint_loading,
                     use_msda_pytorch_fallback)
from .config_refs import load_config, resolve_cfg_refs
from .resume import (CheckpointError, check_checkpoint, checkpoint_error,
                     find_resumable_checkpoint)
from .setup_env import register_all_modules

__all__ = [
    'install_mmcv_ext_standin', 'patch_mmengine_checkpoint_loading',
    'use_msda_pytorch_fallback',
    'MissingCompiledOpError', 'register_all_modules', 'load_config',
    'resolve_cfg_refs', 'CheckpointError', 'check_checkpoint',
    'checkpoint_error', 'find_resumable_checkpoint'
]
