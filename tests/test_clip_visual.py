import copy
import json
import os.path as osp
import warnings

import open_clip
import pytest
import torch
import torch.nn as nn

from mmvlpuda.models import CLIPVisualBackbone, TextZeroShotHead
from mmvlpuda.models.utils.open_clip_loader import (OPENAI_ONLY_KEYS,
                                                    create_open_clip,
                                                    is_torchscript_archive,
                                                    uses_quick_gelu,
                                                    weights_quick_gelu)


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
    backbone = CLIPVisualBackbone(
        arch='mmvlpuda-tiny-rn', pretrained=str(path), quick_gelu=False)
    for k, v in ref.visual.state_dict().items():
        assert torch.equal(backbone.visual.state_dict()[k], v), k


def test_json_model_config_path(tmp_path):
    cfg = {
        'embed_dim': 16,
        'vision_cfg': {
            'image_size': 32,
            'layers': 1,
            'width': 32,
            'head_width': 16,
            'patch_size': 16
        },
        'text_cfg': {
            'context_length': 77,
            'vocab_size': 49408,
            'width': 16,
            'heads': 1,
            'layers': 1
        }
    }
    path = tmp_path / 'my-tiny-vit.json'
    path.write_text(json.dumps(cfg))
    backbone = CLIPVisualBackbone(arch=str(path))
    assert backbone.embed_dims == 16


def test_quick_gelu_follows_openai_weights():
    assert uses_quick_gelu('RN50', 'openai')
    assert uses_quick_gelu('ViT-B-16', 'openai')
    assert not uses_quick_gelu('ViT-B-16', 'laion2b_s34b_b88k')
    assert uses_quick_gelu('RN50', None) is False
    assert uses_quick_gelu('RN50-quickgelu', None) is True
    # a path the loader cannot read tells nothing (the file decides)
    assert uses_quick_gelu('RN50', '/some/local/file.pt') is None


@pytest.mark.parametrize('kwargs,exc,needle', [
    (dict(arch='RN5000'), KeyError, "'RN5000'"),
    (dict(arch='/nope/cfg.json'), FileNotFoundError, '/nope/cfg.json'),
    (dict(arch='mmvlpuda-tiny-rn',
          pretrained='/nope/w.pt'), FileNotFoundError, '/nope/w.pt'),
    (dict(arch='mmvlpuda-tiny-rn',
          pretrained='w.safetensors'), FileNotFoundError, 'w.safetensors'),
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


# ------------------------------------------- OpenAI weights from a local file
#
# open_clip 3.3.0 (.venv): the `openai` tag of RN50/RN101/ViT-B-16 is marked
# quick_gelu=True in open_clip/pretrained.py (_RN50 = dict(openai=_pcfg(url=
# "https://openaipublic.azureedge.net/clip/models/.../RN50.pt", hf_hub=
# "timm/resnet50_clip.openai/", quick_gelu=True))); the URL file is a
# TorchScript archive (torch.jit.save of OpenAI's CLIP; open_clip/openai.py
# load_openai_model: "loading JIT archive" -> torch.jit.load), and
# open_clip/factory.py load_state_dict reads an archive's state_dict() after
# popping input_resolution / context_length / vocab_size. The hf_hub copy is
# a plain open_clip-format state dict. upstream.md §15: OpenAI checkpoints
# load into open_clip by name, but plain RN50/ViT-B-16 configs use nn.GELU
# and open_clip only *warns* on a mismatch; OpenAI CLIP needs QuickGELU.


def _tiny_clip(arch, quick_gelu, seed=0):
    torch.manual_seed(seed)
    return open_clip.create_model(arch, force_quick_gelu=quick_gelu).eval()


def _round_fp16(model):
    """OpenAI's release files keep matmul/conv weights in fp16
    (openai/CLIP convert_weights); round the reference the same way."""
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                p.copy_(p.half().float())
    return model


def _write_openai_archive(model, path):
    """A TorchScript archive in the OpenAI release format: the traced CLIP
    (encode_image / encode_text), fp16 weights, and the OpenAI-only
    ``input_resolution``/``context_length``/``vocab_size`` entries."""
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    model = copy.deepcopy(model)
    for key, value in zip(OPENAI_ONLY_KEYS,
                          (size, model.context_length, model.vocab_size)):
        if hasattr(model, key):
            delattr(model, key)
        model.register_buffer(key, torch.tensor(value))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace_module(
            model,
            dict(
                encode_image=(torch.ones(1, 3, size, size), ),
                encode_text=(torch.zeros(1, 77, dtype=torch.int), )),
            check_trace=False)
        for p in traced.parameters():
            if p.ndim >= 2:
                p.data = p.data.half()
        torch.jit.save(traced, str(path))
    return str(path)


def _outputs(model, arch):
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    g = torch.Generator().manual_seed(1)
    images = torch.randn(2, 3, size, size, generator=g)
    text = open_clip.get_tokenizer(arch)(['a photo of a cat', 'a dog'])
    model.eval()
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(text)


def _activations(model):
    return {type(m).__name__ for m in model.modules()} & {'QuickGELU', 'GELU'}


@pytest.mark.parametrize('arch', ['mmvlpuda-tiny-rn', 'mmvlpuda-tiny-vit'])
def test_openai_archive_builds_what_the_openai_tag_builds(
        arch, tmp_path, monkeypatch):
    """A local copy of the file the `openai` tag's URL serves (TorchScript
    archive) builds exactly what `pretrained='openai'` builds: QuickGELU
    towers, the same weights, identical outputs (open_clip 3.3.0
    pretrained.py `quick_gelu=True` for every openai tag; openai.py /
    factory.py load_state_dict read the archive's state_dict)."""
    ref = _round_fp16(_tiny_clip(arch, quick_gelu=True))
    archive = _write_openai_archive(ref, tmp_path / 'RN50.pt')
    assert is_torchscript_archive(archive)
    assert weights_quick_gelu(archive) is True

    # what the tag builds: open_clip's tag path with the hub's plain
    # state-dict copy of the same weights
    hub_copy = tmp_path / 'open_clip_pytorch_model.bin'
    torch.save(ref.state_dict(), hub_copy)
    tags = dict(open_clip.pretrained._PRETRAINED.get(arch, {}))
    tags['openai'] = dict(file=str(hub_copy), quick_gelu=True)
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, arch, tags)
    by_tag = create_open_clip(arch, 'openai')

    by_file = create_open_clip(arch, archive)
    explicit = create_open_clip(arch, archive, quick_gelu=True)
    for model in (by_tag, by_file, explicit):
        assert _activations(model) == {'QuickGELU'}
        assert all(p.dtype == torch.float32 for p in model.parameters())
    expected = _outputs(ref, arch)
    for model in (by_tag, by_file, explicit):
        for got, want in zip(_outputs(model, arch), expected):
            assert torch.equal(got, want)
        sd = model.state_dict()
        for k, v in by_tag.state_dict().items():
            assert torch.equal(sd[k], v), k

    # nn.GELU with the same weights is a different model (the bug)
    gelu = create_open_clip(arch, archive, quick_gelu=False)
    assert _activations(gelu) == {'GELU'}
    assert not torch.allclose(_outputs(gelu, arch)[1], expected[1])


def test_openai_archive_gives_quickgelu_backbone_and_text_teacher(tmp_path):
    """The documented offline form `model.backbone.pretrained=/weights/RN50.pt`
    (docs/faq.md): backbone and text head (which inherits `pretrained`)
    build OpenAI's QuickGELU model; for an RN the text tower is the only
    GELU user, so a wrong activation means a wrong text teacher."""
    arch = 'mmvlpuda-tiny-rn'
    archive = _write_openai_archive(
        _round_fp16(_tiny_clip(arch, quick_gelu=True)), tmp_path / 'RN50.pt')
    classes = ['back pack', 'bike', 'bookcase']
    auto = TextZeroShotHead(classes, arch=arch, pretrained=archive)
    quick = TextZeroShotHead(
        classes, arch=arch, pretrained=archive, quick_gelu=True)
    gelu = TextZeroShotHead(
        classes, arch=arch, pretrained=archive, quick_gelu=False)
    assert torch.equal(auto.text_features, quick.text_features)
    assert not torch.allclose(auto.text_features, gelu.text_features)

    vit = 'mmvlpuda-tiny-vit'
    vit_archive = _write_openai_archive(
        _round_fp16(_tiny_clip(vit, quick_gelu=True)), tmp_path / 'ViT.pt')
    backbone = CLIPVisualBackbone(arch=vit, pretrained=vit_archive)
    assert _activations(backbone) == {'QuickGELU'}
    explicit = CLIPVisualBackbone(
        arch=vit, pretrained=vit_archive, quick_gelu=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(backbone(x), explicit(x))


def test_openai_state_dict_form_is_detected(tmp_path):
    """The archive's state dict saved with torch.save (what open_clip's
    openai.py passes to build_model_from_openai_state_dict, quick_gelu=True
    by default there) keeps the OpenAI-only entries: QuickGELU."""
    arch = 'mmvlpuda-tiny-rn'
    ref = _round_fp16(_tiny_clip(arch, quick_gelu=True))
    archive = _write_openai_archive(ref, tmp_path / 'RN50.pt')
    sd_path = tmp_path / 'RN50_state_dict.pt'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.save(dict(torch.jit.load(archive).state_dict()), sd_path)
    assert not is_torchscript_archive(str(sd_path))
    assert weights_quick_gelu(str(sd_path)) is True
    model = create_open_clip(arch, str(sd_path))
    assert _activations(model) == {'QuickGELU'}
    for got, want in zip(_outputs(model, arch), _outputs(ref, arch)):
        assert torch.equal(got, want)


def test_gelu_archive_is_detected(tmp_path):
    arch = 'mmvlpuda-tiny-vit'
    ref = _tiny_clip(arch, quick_gelu=False)
    archive = _write_openai_archive(ref, tmp_path / 'gelu.pt')
    assert weights_quick_gelu(archive) is False
    model = create_open_clip(arch, archive)
    assert _activations(model) == {'GELU'}
    for got, want in zip(
            _outputs(model, arch), _outputs(_round_fp16(ref), arch)):
        assert torch.equal(got, want)


def test_plain_state_dict_asks_for_quick_gelu(tmp_path):
    """A plain state dict does not record the activation: a one-line error
    asks for `quick_gelu`; given, it loads (QuickGELU or GELU)."""
    arch = 'mmvlpuda-tiny-rn'
    ref = _tiny_clip(arch, quick_gelu=True)
    path = tmp_path / 'open_clip_model.pt'
    torch.save(ref.state_dict(), path)
    assert weights_quick_gelu(str(path)) is None
    with pytest.raises(ValueError) as err:
        CLIPVisualBackbone(arch=arch, pretrained=str(path))
    msg = str(err.value)
    assert 'quick_gelu' in msg and str(path) in msg and '\n' not in msg
    with pytest.raises(ValueError):
        TextZeroShotHead(['cat'], arch=arch, pretrained=str(path))
    model = create_open_clip(arch, str(path), quick_gelu=True)
    for got, want in zip(_outputs(model, arch), _outputs(ref, arch)):
        assert torch.equal(got, want)
    assert _activations(create_open_clip(arch, str(path),
                                         quick_gelu=False)) == {'GELU'}


def test_quick_gelu_is_an_explicit_config_option():
    """`quick_gelu` is spelled out in the model base (None = automatic) and
    the text head inherits it from the backbone."""
    from mmengine.config import Config

    from conftest import REPO_ROOT
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/models/cmkd_clip.py'))
    assert 'quick_gelu' in cfg.model.backbone
    assert cfg.model.backbone.quick_gelu is None
