from .compat import (MissingCompiledOpError, apply_runtime_fixes,
                     install_mmcv_ext_standin,
                     patch_mmengine_checkpoint_loading, require_mmcv_ops,
                     use_msda_pytorch_fallback)
from .config_refs import (ConfigReferenceError, check_resolved, load_config,
                          resolve_cfg_refs)
from .resume import (CheckpointError, check_checkpoint, checkpoint_error,
                     find_resumable_checkpoint)
from .setup_env import register_all_modules

__all__ = [
    'install_mmcv_ext_standin', 'patch_mmengine_checkpoint_loading',
    'apply_runtime_fixes', 'require_mmcv_ops', 'use_msda_pytorch_fallback',
    'MissingCompiledOpError', 'register_all_modules', 'load_config',
    'ConfigReferenceError', 'check_resolved', 'resolve_cfg_refs',
    'CheckpointError', 'check_checkpoint', 'checkpoint_error',
    'find_resumable_checkpoint'
]
