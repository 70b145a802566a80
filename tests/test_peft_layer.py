"""mmvlpuda.models.peft.layer: the nn.MultiheadAttention adapters are exact
(equal to a dense tower holding W + ΔW) and LoRA on dilated convolutions
equals the merged weights."""
import pytest
import torch
import torch.nn as nn
from peft import AdaLoraConfig

from mmvlpuda.models import PEFTBackbone
from mmvlpuda.models.peft import SVDMultiheadAttention
from peft_cases import CASES, SIZE, base_name, build, one_torch_thread, plain


@pytest.fixture(scope='module', autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.mark.parametrize('case', ['lora-vit', 'lora-rn', 'adalora-vit'])
def test_adapters_equal_the_merged_dense_model(case):
    """Start: identical to the pretrained tower (zero update). With random
    adapter weights: identical to a plain tower holding W + ΔW — including
    nn.MultiheadAttention, whose frozen weights peft itself perturbs."""
    arch, method, peft_cfg = CASES[case]
    backbone = build(arch, method, peft_cfg).eval()
    dense = plain(arch).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), dense(x), rtol=0, atol=1e-6)
        for name, p in backbone.named_parameters():
            if '.lora_' in name:
                p.normal_(std=0.1)
        merged = {}
        for name, t in backbone.backbone.state_dict().items():
            if '.lora_' not in name and '.ranknum' not in name:
                merged[base_name(name)] = t.clone()
        for name, layer in backbone.backbone.named_modules():
            if not hasattr(layer,
                           'get_delta_weight') or name.endswith('out_proj'):
                continue
            base = layer.get_base_layer()
            if isinstance(base, nn.MultiheadAttention):
                merged[f'{name}.in_proj_weight'] += layer.get_delta_weight(
                    'default')
                merged[f'{name}.out_proj.weight'] += \
                    base.out_proj.get_delta_weight('default')
            else:
                merged[f'{name}.weight'] += layer.get_delta_weight('default')
        dense.load_state_dict(merged)
        torch.testing.assert_close(backbone(x), dense(x), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(backbone(x), plain(arch).eval()(x))


def test_svd_attention_refuses_to_merge():
    layer = SVDMultiheadAttention(
        nn.MultiheadAttention(8, 2),
        'default',
        config=AdaLoraConfig(target_modules=['attn'], total_step=2),
        r=2)
    assert not layer.get_base_layer().in_proj_weight.requires_grad
    with pytest.raises(NotImplementedError, match='not supported'):
        layer.merge()


def test_lora_on_dilated_convs_equals_the_merged_weights():
    """peft's Conv2d adapter ignores dilation; match_conv_dilation restores
    it so LoRA runs on DeepLab's dilated ResNet stages and equals W + B·A."""
    backbone = PEFTBackbone(
        method='lora',
        backbone=dict(
            _scope_='mmseg',
            type='ResNetV1c',
            depth=18,
            dilations=(1, 1, 2, 4),
            strides=(1, 2, 1, 1),
            contract_dilation=True),
        peft_cfg=dict(
            r=2, lora_alpha=2, target_modules=r'.*layer\d\.\d+\.conv[12]'))
    backbone.eval()
    dilations = {
        m.base_layer.dilation
        for m in backbone.modules() if hasattr(m, 'lora_A')
    }
    assert {(2, 2), (4, 4)} <= dilations
    for module in backbone.modules():
        if hasattr(module, 'lora_B'):
            nn.init.normal_(module.lora_B['default'].weight, std=0.05)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = backbone(x)[-1]
        for module in backbone.modules():
            if hasattr(module, 'lora_B'):
                module.merge()
        merged = backbone(x)[-1]
    assert torch.allclose(out, merged, atol=1e-4)
