"""PEFTBackbone (mmvlpuda.models.peft.backbone): the trainable sets of the
paper's Table VII baselines, build-time and first-forward checks, and the
AdaLoRA rank-allocator state that each backbone keeps in its own
state_dict."""
import copy
import io

import pytest
import torch
import torch.nn as nn
from mmengine.runner.checkpoint import get_state_dict, load_state_dict

import mmvlpuda.models.peft.backbone as backbone_module
from mmvlpuda.models import PEFTBackbone
from mmvlpuda.sparse import model_dsp
from peft_cases import (ALLOC_CFG, CASES, RN, SIZE, VIT, VIT_TARGETS,
                        base_name, build, one_torch_thread, plain,
                        randomize_bn)


@pytest.fixture(scope='module', autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


# trainable sets -------------------------------------------------------------
@pytest.mark.parametrize('case', CASES)
def test_exact_trainable_set(case):
    arch, method, peft_cfg = CASES[case]
    backbone = build(arch, method, peft_cfg)
    names = dict(backbone.named_parameters())
    trainable = {n for n, p in names.items() if p.requires_grad}
    if method == 'linear_probe':
        assert trainable == set()
    elif method == 'finetune':
        assert trainable == set(names)
    elif method == 'bitfit':
        assert trainable == {n for n in names if n.endswith('bias')}
        assert trainable
    elif method == 'lora':
        assert trainable == {n for n in names if '.lora_' in n}
        assert all(('lora_A' in n) or ('lora_B' in n) for n in trainable)
    else:  # adalora: P, Q and the singular values; ranknum stays frozen
        assert trainable == {
            n
            for n in names if any(
                k in n for k in ('lora_A', 'lora_B', 'lora_E'))
        }
    if method in ('lora', 'adalora'):
        # the pretrained weights are all still there, frozen
        dense = {n for n, _ in plain(arch).named_parameters()}
        base = {
            base_name(n)
            for n in names if '.lora_' not in n and '.ranknum' not in n
        }
        assert base == {f'backbone.{n}' for n in dense}
    assert model_dsp(backbone) == sum(names[n].numel() for n in trainable)


def test_adapted_modules_per_arch():
    vit = build(VIT, 'lora', CASES['lora-vit'][2])
    adapted = {
        n.rsplit('.lora_A', 1)[0]
        for n, _ in vit.named_parameters() if '.lora_A' in n
    }
    assert adapted == {
        f'backbone.visual.transformer.resblocks.{i}.{m}'
        for i in range(2)
        for m in ('attn', 'attn.base_layer.out_proj', 'mlp.c_fc', 'mlp.c_proj')
    }
    rn = build(RN, 'lora', CASES['lora-rn'][2])
    convs = {
        n
        for n, m in plain(RN).named_modules() if isinstance(m, nn.Conv2d)
    }
    adapted = {
        n[len('backbone.'):].rsplit('.lora_A', 1)[0]
        for n, _ in rn.named_parameters() if '.lora_A' in n
    }
    assert adapted == convs and len(convs) == 19


@pytest.mark.parametrize('case', CASES)
def test_steps_move_only_the_trainable_set(case):
    arch, method, peft_cfg = CASES[case]
    backbone = build(arch, method, peft_cfg)
    randomize_bn(backbone)
    with torch.no_grad():  # zero-initialised factors get a gradient at once
        for name, p in backbone.named_parameters():
            if 'lora_B' in name or 'lora_E' in name:
                p.normal_(std=0.05)
    head = nn.Linear(backbone.embed_dims, 3)
    init = {
        n: t.detach().clone()
        for n, t in backbone.state_dict(keep_vars=True).items()
    }
    ids = {n: id(p) for n, p in backbone.named_parameters()}
    params = [p for p in backbone.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params + list(head.parameters()), lr=0.05, momentum=0.9)
    backbone.train()
    x, y = torch.randn(4, 3, SIZE, SIZE), torch.tensor([0, 1, 2, 0])
    for step in range(3):
        feats = backbone(x)
        assert feats.shape == (4, backbone.embed_dims)
        nn.functional.cross_entropy(head(feats), y).backward()
        optimizer.step()
        optimizer.zero_grad()
    # frozen weights and BN statistics (norm_eval) are bit-identical, and
    # the Parameter objects are the same (nothing re-registered)
    after = backbone.state_dict(keep_vars=True)
    assert ids == {n: id(p) for n, p in backbone.named_parameters()}
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    for name, value in after.items():
        if name.endswith('k_proj.bias'):
            continue  # softmax is invariant to a key bias: zero gradient
        if name in trainable:
            assert not torch.equal(value, init[name]), f'{name} did not move'
        else:
            assert torch.equal(value, init[name]), f'{name} changed'


def test_linear_probe_and_norm_eval_survive_train():
    probe = nn.Sequential(build(RN, 'linear_probe'))
    probe.train()
    assert not probe[0].backbone.training
    lora = build(RN, 'lora', CASES['lora-rn'][2], norm_eval=True)
    assert lora.norm_eval and lora.embed_dims == 32
    nn.Sequential(lora).train()
    bns = [m for m in lora.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert lora.backbone.visual.conv1.training  # the rest is in train mode
    out = probe[0](torch.randn(2, 3, SIZE, SIZE))
    assert not out.requires_grad


# errors ----------------------------------------------------------------------
@pytest.mark.parametrize('kwargs,match', [
    (dict(arch=VIT, method='prefix'), 'method must be one of'),
    (dict(arch=VIT, method='bitfit', peft_cfg=dict(r=1)), 'takes no'),
    (dict(arch=VIT, method='lora',
          peft_cfg=dict(r=1)), 'peft_cfg.target_modules'),
    (dict(arch=VIT, method='lora', peft_cfg=dict(target_modules=['qkv'])),
     "'qkv' not found.*peft_cfg.target_modules"),
    (dict(arch=VIT, method='lora', peft_cfg=dict(target_modules=['out_proj'])),
     'MultiheadAttention.*never run'),
    (dict(arch=RN, method='lora',
          peft_cfg=dict(target_modules=['q_proj'])), 'AttentionPool2d'),
    (dict(arch=VIT, method='lora',
          peft_cfg=dict(target_modules=['ln_1'])), 'LayerNorm.*supports'),
    (dict(
        arch=VIT,
        method='lora',
        peft_cfg=dict(target_modules=['c_fc'],
                      rank=2)), "unknown LoRA option 'rank'.*peft_cfg.rank"),
    (dict(arch=VIT, method='lora', frozen=True), 'frozen=True'),
    (dict(
        arch=VIT,
        method='finetune',
        backbone=dict(type='CLIPVisualBackbone', arch=RN)), 'both'),
    (dict(
        arch=VIT,
        method='adalora',
        peft_cfg=dict(
            target_modules=['c_fc'], total_step=10, tinit=5,
            tfinal=5)), 'no budgeting phase'),
])
def test_bad_input_is_a_one_line_error(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        PEFTBackbone(**kwargs)
    assert '\n' not in str(info.value)


def test_adapter_that_never_runs_fails_on_first_forward():
    # a module that reads its child's weight instead of calling it
    backbone = build(VIT, 'lora', dict(target_modules=['c_fc']))
    mlp = backbone.backbone.visual.transformer.resblocks[0].mlp
    mlp.forward = lambda x: nn.functional.linear(x, mlp.c_fc.weight, mlp.c_fc.
                                                 bias)[..., :64]
    with pytest.raises(ValueError, match='resblocks.0.mlp.c_fc.*never'):
        backbone(torch.randn(1, 3, SIZE, SIZE))


def test_first_forward_check_is_per_copy_and_removes_its_hooks():
    backbone = build(VIT, 'lora', dict(target_modules=VIT_TARGETS))
    clone = copy.deepcopy(backbone)  # e.g. an EMA model
    x = torch.randn(1, 3, SIZE, SIZE)
    torch.testing.assert_close(backbone(x), clone(x))
    for model in (backbone, clone):
        assert not any(m._forward_pre_hooks for m in model.modules())


def test_adalora_needs_a_total_step():
    backbone = build(VIT, 'adalora', dict(target_modules=['c_fc']))
    with pytest.raises(RuntimeError, match='PEFTHook'):
        backbone.update_and_allocate(0)
    backbone.set_total_step(100)  # fractions resolve against it
    assert backbone.adalora_config.total_step == 100
    frac = build(
        VIT, 'adalora',
        dict(target_modules=['c_fc'], tinit=0.1, tfinal=0.25, total_step=40))
    assert (frac.adalora_config.tinit, frac.adalora_config.tfinal) == (4, 10)
    with pytest.raises(RuntimeError, match="needs method='adalora'"):
        build(VIT, 'lora', CASES['lora-vit'][2]).set_total_step(100)


def test_unscheduled_adalora_warns_once(monkeypatch):
    """AdaLoRA with no total_step (nothing set a schedule, e.g. no PEFTHook)
    warns in its first training forward; a scheduled one does not."""
    logged = []
    monkeypatch.setattr(backbone_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    x = torch.randn(1, 3, SIZE, SIZE)
    scheduled = build(VIT, 'adalora', CASES['adalora-vit'][2]).train()
    scheduled(x)
    assert logged == []
    unscheduled = build(VIT, 'adalora', dict(target_modules=['c_fc']))
    unscheduled.eval()(x)
    assert logged == []
    unscheduled.train()
    unscheduled(x)
    unscheduled(x)
    assert len(logged) == 1 and 'PEFTHook' in logged[0]
    assert not hasattr(unscheduled, 'allocator_attached')


# AdaLoRA allocator state in state_dict ------------------------------------
X = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def _allocation_step(backbone, step):
    backbone.train()
    backbone(X).square().mean().backward()
    backbone.update_and_allocate(step)
    backbone.zero_grad()


def _allocated(seed, steps=2):
    """A backbone whose allocator has sensitivity EMAs and a rank pattern
    (steps 0..steps-1 of a total of 6, budget phase from step 1)."""
    backbone = build(VIT, 'adalora', ALLOC_CFG, seed=seed)
    with torch.no_grad():  # lora_E starts at zero: no sensitivity
        for name, p in backbone.named_parameters():
            if '.lora_' in name:
                p.normal_(std=0.1)
    for step in range(steps):
        _allocation_step(backbone, step)
    return backbone


def _assert_same_state(a: PEFTBackbone, b: PEFTBackbone):
    sa, sb = a.adalora_state(), b.adalora_state()
    assert sa['rank_pattern'] == sb['rank_pattern']
    for key in ('exp_avg_ipt', 'exp_avg_unc'):
        assert sa[key].keys() == sb[key].keys()
        for name in sa[key]:
            assert torch.equal(sa[key][name], sb[key][name]), name


def test_two_adalora_backbones_round_trip_their_own_state():
    model = nn.ModuleDict(dict(a=_allocated(0), b=_allocated(1, steps=3)))
    state_a, state_b = (model[k].adalora_state() for k in 'ab')
    assert state_a['rank_pattern'] and state_b['rank_pattern']
    assert state_a['rank_pattern'] != state_b['rank_pattern']
    saved = model.state_dict()
    pattern_key = ('a.adalora.rank_pattern.visual.transformer.resblocks.0.'
                   'mlp.c_fc.lora_E.default')
    assert saved[pattern_key].dtype == torch.bool
    assert any(k.startswith('b.adalora.exp_avg_ipt.') for k in saved)
    # plain tensors: a weights-only torch.load reads them
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    fresh = nn.ModuleDict(
        dict(
            a=build(VIT, 'adalora', ALLOC_CFG, seed=2),
            b=build(VIT, 'adalora', ALLOC_CFG, seed=3)))
    fresh.load_state_dict(saved, strict=True)
    for key in 'ab':
        _assert_same_state(model[key], fresh[key])
    assert fresh.state_dict().keys() == model.state_dict().keys()
    # resuming continues exactly: one more identical step on both
    for m in (model, fresh):
        _allocation_step(m['a'], 2)
    _assert_same_state(model['a'], fresh['a'])


def test_state_round_trips_through_mmengine_checkpoint_functions():
    source = nn.Sequential(_allocated(0))
    target = nn.Sequential(build(VIT, 'adalora', ALLOC_CFG, seed=1))
    load_state_dict(target, get_state_dict(source), strict=True)
    _assert_same_state(source[0], target[0])


def test_state_without_allocator_entries_is_the_empty_state():
    """Entries absent (a checkpoint saved before the first allocation):
    the fresh allocator's state, not a missing key."""
    backbone = _allocated(0)
    empty = build(VIT, 'adalora', ALLOC_CFG, seed=1)
    assert not any('.adalora.' in k or k.startswith('adalora.')
                   for k in empty.state_dict())
    backbone.load_state_dict(empty.state_dict(), strict=True)
    _assert_same_state(backbone, empty)
    assert backbone.adalora_config.rank_pattern is None


def test_unknown_allocator_entries_are_unexpected_keys():
    backbone = _allocated(0)
    state = backbone.state_dict()
    state['adalora.exp_avg_ipt.nope.lora_A.default'] = torch.zeros(1)
    state['adalora.bogus'] = torch.zeros(1)
    with pytest.raises(RuntimeError, match='adalora.bogus'):
        copy.deepcopy(backbone).load_state_dict(state, strict=True)
    result = backbone.load_state_dict(state, strict=False)
    assert sorted(result.unexpected_keys) == [
        'adalora.bogus', 'adalora.exp_avg_ipt.nope.lora_A.default'
    ]


def test_other_methods_keep_their_state_dict_keys():
    for case in ('lora-vit', 'bitfit-vit'):
        backbone = build(*CASES[case])
        assert set(backbone.state_dict()) == {
            n
            for n, _ in backbone.named_parameters()
        } | {n
             for n, _ in backbone.named_buffers()}
