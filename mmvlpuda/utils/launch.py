import torch
from mmengine.config import Config
from mmengine.logging import print_log


def setup_cpu_distributed(cfg: Config) -> Config:
    """Let a distributed config run on CPU-only machines (gloo).

    Configs default to the nccl backend and mmengine passes the local rank
    as a CUDA ``device_ids`` to DDP; without CUDA this switches the backend
    to gloo and wraps the model in ``MMDistributedDataParallel`` without
    device ids. (The CUDA ``set_device`` call of mmengine's launcher is
    skipped by :func:`mmvlpuda.utils.compat.patch_mmengine_cpu_dist_init`.)
    Nothing changes when CUDA is available or the launcher is ``none``.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return cfg
    env_cfg = dict(cfg.get('env_cfg') or {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
        print_log(
            'CUDA is not available: using the gloo backend', logger='current')
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
    return cfg
