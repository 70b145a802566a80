import torch
from mmengine.config import Config
from mmengine.logging import print_log


def use_gloo_without_cuda(cfg: Config) -> Config:
    """Use the gloo backend for distributed runs when CUDA is unavailable
    (configs default to nccl, which needs GPUs)."""
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return cfg
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
        print_log('CUDA is not available: using the gloo backend',
                  logger='current')
    return cfg
