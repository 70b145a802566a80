import json

import open_clip
import pytest
import torch
import torch.nn as nn

from mmvlpuda.models import CLIPVisualBackbone
from mmvlpuda.models.utils.open_clip_loader import uses_quick_gelu


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('arch,count', [
    ('RN50', 38_316_896),
    ('RN101', 56_259_936),
    ('ViT-B-16', 86_192_640),
])
def test_image_tower_param_counts_match_paper_appendix_c(arch, count):
    backbone = CLIPVisualBackbone(arch=arch, pretrained=None)
    assert _num_params(backbone) == count


def test_forward_gives_projected_embedding():
    backbone = CLIPVisualBackbone(arch='mmvlpuda-tiny-rn', image_size=96)
    out = backbone(torch.randn(2, 3, 96, 96))
    assert out.shape == (2, backbone.embed_dims) == (2, 32)
    vit = CLIPVisualBackbone(arch='mmvlpuda-tiny-vit')
    assert vit(torch.randn(1, 3, 64, 64)).shape == (1, vit.embed_dims)


def test_norm_eval_survives_model_train():
    backbone = CLIPVisualBackbone(arch='mmvlpuda-tiny-rn', norm_eval=True)
    wrapper = nn.Sequential(backbone)
    wrapper.train()  # what mmengine does every epoch/iteration
    bns = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
    # running statistics stay fixed while BN affine weights still train
    before = bns[0].running_mean.clone()
    backbone(torch.randn(2, 3, 64, 64)).sum().backward()
    assert torch.equal(bns[0].running_mean, before)
    assert bns[0].weight.grad is not None

    free = CLIPVisualBackbone(arch='mmvlpuda-tiny-rn', norm_eval=False)
    free.train()
    assert all(m.training for m in free.modules()
               if isinstance(m, nn.BatchNorm2d))


def test_frozen_backbone_has_no_trainable_params():
    backbone = CLIPVisualBackbone(arch='mmvlpuda-tiny-rn', frozen=True)
    assert not any(p.requires_grad for p in backbone.parameters())


def test_local_weight_file_is_loaded(tmp_path):
    ref = open_clip.create_model('mmvlpuda-tiny-rn')
    path = tmp_path / 'tiny.pt'
    torch.save(ref.state_dict(), path)
    backbone = CLIPVisualBackbone(arch='mmvlpuda-tiny-rn',
                                  pretrained=str(path))
    for k, v in ref.visual.state_dict().items():
        assert torch.equal(backbone.visual.state_dict()[k], v), k


def test_json_model_config_path(tmp_path):
    cfg = {'embed_dim': 16,
           'vision_cfg': {'image_size': 32, 'layers': 1, 'width': 32,
                          'head_width': 16, 'patch_size': 16},
           'text_cfg': {'context_length': 77, 'vocab_size': 49408,
                        'width': 16, 'heads': 1, 'layers': 1}}
    path = tmp_path / 'my-tiny-vit.json'
    path.write_text(json.dumps(cfg))
    backbone = CLIPVisualBackbone(arch=str(path))
    assert backbone.embed_dims == 16


def test_quick_gelu_follows_openai_weights():
    assert uses_quick_gelu('RN50', 'openai')
    assert uses_quick_gelu('ViT-B-16', 'openai')
    assert not uses_quick_gelu('ViT-B-16', 'laion2b_s34b_b88k')
    assert not uses_quick_gelu('RN50', None)
    assert not uses_quick_gelu('RN50', '/some/local/file.pt')


@pytest.mark.parametrize('kwargs,exc,needle', [
    (dict(arch='RN5000'), KeyError, "'RN5000'"),
    (dict(arch='/nope/cfg.json'), FileNotFoundError, '/nope/cfg.json'),
    (dict(arch='mmvlpuda-tiny-rn', pretrained='/nope/w.pt'),
     FileNotFoundError, '/nope/w.pt'),
    (dict(arch='mmvlpuda-tiny-rn', pretrained='w.safetensors'),
     FileNotFoundError, 'w.safetensors'),
])
def test_bad_arch_or_weights_one_line_errors(kwargs, exc, needle):
    with pytest.raises(exc) as err:
        CLIPVisualBackbone(**kwargs)
    msg = str(err.value)
    assert needle in msg and '\n' not in msg


def test_missing_download_fails_fast_offline():
    # HF_HUB_OFFLINE=1 (conftest): an uncached tag errors instead of hanging
    with pytest.raises(RuntimeError) as err:
        CLIPVisualBackbone(arch='RN50', pretrained='openai')
    assert 'pretrained' in str(err.value)
