"""Shared cases of the PEFT tests (test_peft_layer, test_peft_backbone,
test_peft_hook): tiny CLIP towers and one PEFTBackbone per method."""
import contextlib

import torch
import torch.nn as nn

from mmvlpuda.models import CLIPVisualBackbone, PEFTBackbone

VIT, RN = 'mmvlpuda-tiny-vit', 'mmvlpuda-tiny-rn'
VIT_TARGETS = ['attn', 'c_fc', 'c_proj']
# a short AdaLoRA schedule whose allocator state changes every step
ALLOC_CFG = dict(
    init_r=4,
    target_r=2,
    lora_alpha=4,
    total_step=6,
    tinit=0,
    tfinal=1,
    deltaT=1,
    target_modules=VIT_TARGETS)
RN_TARGETS = ['conv1', 'conv2', 'conv3', 'downsample.0']
SIZE = 64  # native input size of the tiny archs

CASES = {
    'linear_probe-rn': (RN, 'linear_probe', None),
    'linear_probe-vit': (VIT, 'linear_probe', None),
    'finetune-vit': (VIT, 'finetune', None),
    'bitfit-rn': (RN, 'bitfit', None),
    'bitfit-vit': (VIT, 'bitfit', None),
    'lora-rn': (RN, 'lora', dict(r=2, lora_alpha=2,
                                 target_modules=RN_TARGETS)),
    'lora-vit':
    (VIT, 'lora', dict(r=2, lora_alpha=2, target_modules=VIT_TARGETS)),
    'adalora-vit': (VIT, 'adalora',
                    dict(
                        init_r=4,
                        target_r=2,
                        lora_alpha=4,
                        total_step=10,
                        target_modules=VIT_TARGETS)),
}


@contextlib.contextmanager
def one_torch_thread():
    """The tiny models are far faster single-threaded on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def build(arch, method, peft_cfg=None, seed=0, **kwargs):
    torch.manual_seed(seed)
    return PEFTBackbone(method=method, peft_cfg=peft_cfg, arch=arch, **kwargs)


def plain(arch, seed=0):
    torch.manual_seed(seed)
    return CLIPVisualBackbone(arch=arch)


def base_name(name):
    return name.replace('.base_layer', '')


def randomize_bn(backbone):
    """open_clip zero-inits every bottleneck's last BN weight, which kills
    the gradient of the residual branches of a randomly initialised RN."""
    for m in backbone.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
