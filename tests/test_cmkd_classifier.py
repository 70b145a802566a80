import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

from mmvlpuda.registry import MODELS

CLASSES = ['cat', 'dog', 'car']


def _cfg(**overrides):
    cfg = dict(
        type='CMKDClassifier',
        backbone=dict(type='CLIPVisualBackbone', arch='mmvlpuda-tiny-rn'),
        task_head=dict(type='TaskHead'),
        text_head=dict(
            type='TextZeroShotHead',
            classnames=CLASSES,
            templates=['a photo of a {}.']))
    cfg.update(overrides)
    return cfg


def _branch(n, labels=True):
    samples = [
        DataSample().set_gt_label(i % 3) if labels else DataSample()
        for i in range(n)
    ]
    return dict(
        inputs=torch.randint(0, 256, (n, 3, 64, 64)).float(),
        data_samples=samples)


def _set_iter(it):
    MessageHub.get_current_instance().update_info('iter', it)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MODELS.build(_cfg())


def test_loss_terms_logged_and_all_finite(model):
    _set_iter(5000)
    data = model.data_preprocessor(
        dict(source=_branch(4), target=_branch(6, labels=False)), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {
        'loss_cls', 'loss_task', 'loss_distill', 'loss_reg_src',
        'loss_reg_tgt', 'alpha'
    }
    assert all(torch.isfinite(v) for v in losses.values())
    assert 0. <= losses['alpha'].item() <= 1.
    assert not losses['alpha'].requires_grad
    # task head num_classes and in_channels were inferred
    assert model.task_head.num_classes == 3
    assert model.task_head.in_channels == model.backbone.embed_dims


def test_ramp_follows_training_iteration(model):
    data = model.data_preprocessor(
        dict(source=_branch(4), target=_branch(4, labels=False)), True)
    _set_iter(0)
    assert model(**data, mode='loss')['loss_task'].item() == 0.
    _set_iter(10000)
    assert model(**data, mode='loss')['loss_task'].item() > 0.


def test_backward_reaches_backbone_and_head(model):
    _set_iter(10000)
    data = model.data_preprocessor(
        dict(source=_branch(4), target=_branch(4, labels=False)), True)
    losses = model(**data, mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert model.task_head.fc.weight.grad.abs().sum() > 0
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)


def test_source_only_has_only_classification_loss():
    model = MODELS.build(
        _cfg(
            cmkd_loss=None,
            text_head=None,
            task_head=dict(type='TaskHead', num_classes=3)))
    data = model.data_preprocessor(
        dict(source=_branch(4), target=_branch(4, labels=False)), True)
    assert set(model(**data, mode='loss')) == {'loss_cls'}


def test_text_tower_not_in_state_dict(model):
    keys = list(model.state_dict())
    assert keys and all(
        k.startswith(('backbone.visual.', 'task_head.')) for k in keys)
    n_params = sum(p.numel() for p in model.parameters())
    n_expected = sum(p.numel() for p in model.backbone.parameters()) + sum(
        p.numel() for p in model.task_head.parameters())
    assert n_params == n_expected


def test_predict_uses_task_head_or_text_head(model):
    model.eval()
    batch = model.data_preprocessor(_branch(5), False)
    feats = model.backbone(batch['inputs'])
    preds = model(**batch, mode='predict')
    expected = model.task_head(feats).argmax(1)
    assert [int(p.pred_label) for p in preds] == expected.tolist()
    assert torch.allclose(preds[0].pred_score.sum(), torch.tensor(1.))
    model.predict_head = 'text'
    preds = model(**batch, mode='predict')
    expected = model.text_head(feats).argmax(1)
    assert [int(p.pred_label) for p in preds] == expected.tolist()


def test_zero_shot_predictor_without_training():
    model = MODELS.build(_cfg(predict_head='text', cmkd_loss=None)).eval()
    out = model(torch.randn(2, 3, 64, 64), mode='tensor')
    assert out.shape == (2, 3)


@pytest.mark.parametrize('overrides,needle', [
    (dict(task_head=dict(type='TaskHead', num_classes=4)),
     'model.text_head.classnames'),
    (dict(text_head=None), 'model.text_head'),
    (dict(predict_head='clip'), 'predict_head'),
])
def test_bad_configs_give_one_line_errors(overrides, needle):
    with pytest.raises(ValueError) as err:
        MODELS.build(_cfg(**overrides))
    assert needle in str(err.value) and '\n' not in str(err.value)


def test_training_needs_paired_batch(model):
    with pytest.raises(ValueError, match='UDADataset'):
        model(torch.randn(2, 3, 64, 64), mode='loss')


# ------------------------------------------------------- FixMatch / PDA

FM = dict(type='FixMatchLoss', weight=0.5, threshold=0.0)


def _fm_batch(model, n_s=4, n_t=5):
    torch.manual_seed(1)
    return model.data_preprocessor(
        dict(
            source=_branch(n_s),
            target=_branch(n_t, labels=False),
            target_strong=_branch(n_t, labels=False)), True)


def test_fixmatch_uses_both_heads_weak_views_as_pseudo_labels():
    torch.manual_seed(0)
    model = MODELS.build(_cfg(fixmatch_loss=FM))
    _set_iter(10000)
    data = _fm_batch(model)
    seen = {}
    fm_forward = model.fixmatch_loss.forward

    def spy(*args, **kwargs):
        seen['args'], seen['kwargs'] = args, kwargs
        return fm_forward(*args, **kwargs)

    model.fixmatch_loss.forward = spy
    losses = model(**data, mode='loss')
    assert {'loss_fm_task', 'loss_fm_text', 'fm_mask_task',
            'fm_mask_text'} <= set(losses)
    assert losses['fm_mask_task'].item() == 1.  # threshold 0 keeps all

    # recompute the views exactly like the model (one backbone pass)
    n_s, n_t = 4, 5
    feats = model.extract_feat(
        torch.cat([
            data['source']['inputs'], data['target']['inputs'],
            data['target_strong']['inputs']
        ]))
    f_t, f_ts = feats[n_s:n_s + n_t], feats[n_s + n_t:]
    model.task_head(feats[:n_s])  # keep the head call order (BN1d)
    p_task, p_text, z_task, z_text = seen['args']
    assert torch.allclose(p_task, model.task_head(f_t).softmax(1), atol=1e-5)
    assert torch.allclose(p_text, model.text_head(f_t).softmax(1), atol=1e-5)
    assert torch.allclose(z_task, model.task_head(f_ts), atol=1e-5)
    assert torch.allclose(z_text, model.text_head(f_ts), atol=1e-5)
    # the weak-view probabilities are targets: no gradient
    assert not p_task.requires_grad and not p_text.requires_grad
    assert z_task.requires_grad and z_text.requires_grad
    assert seen['kwargs']['label_set'] is None
    # expected values from the two pseudo-label sources
    exp_task = 0.5 * torch.nn.functional.cross_entropy(
        model.task_head(f_ts), p_task.argmax(1))
    exp_text = 0.5 * torch.nn.functional.cross_entropy(
        model.text_head(f_ts), p_text.argmax(1))
    assert torch.allclose(losses['loss_fm_task'], exp_task, atol=1e-5)
    assert torch.allclose(losses['loss_fm_text'], exp_text, atol=1e-5)


def test_fixmatch_backward_reaches_backbone():
    torch.manual_seed(0)
    model = MODELS.build(_cfg(fixmatch_loss=FM, cmkd_loss=None))
    data = _fm_batch(model)
    losses = model(**data, mode='loss')
    assert set(losses) == {
        'loss_cls', 'loss_fm_task', 'loss_fm_text', 'fm_mask_task',
        'fm_mask_text'
    }
    model.zero_grad()
    losses['loss_fm_text'].backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_fixmatch_needs_strong_view_and_text_head():
    model = MODELS.build(_cfg(fixmatch_loss=FM))
    data = model.data_preprocessor(
        dict(source=_branch(2), target=_branch(2, labels=False)), True)
    with pytest.raises(ValueError, match='target_strong'):
        model(**data, mode='loss')
    with pytest.raises(ValueError, match='model.text_head'):
        MODELS.build(
            _cfg(
                fixmatch_loss=FM,
                cmkd_loss=None,
                text_head=None,
                task_head=dict(type='TaskHead', num_classes=3)))


def test_strong_view_is_ignored_without_fixmatch(model):
    _set_iter(10)
    data = _fm_batch(model)
    assert not any('fm' in k for k in model(**data, mode='loss'))


def test_label_set_restricts_fixmatch_pseudo_labels():
    torch.manual_seed(0)
    model = MODELS.build(
        _cfg(
            fixmatch_loss=FM,
            partial_set=dict(cls_weight=1., transfer_weight=1.)))
    data = _fm_batch(model)
    seen = {}
    fm_forward = model.fixmatch_loss.forward

    def spy(*args, **kwargs):
        seen['kwargs'] = kwargs
        return fm_forward(*args, **kwargs)

    model.fixmatch_loss.forward = spy
    model.label_set = [2]
    losses = model(**data, mode='loss')
    assert seen['kwargs']['label_set'] == [2]
    assert torch.isfinite(losses['loss_fm_task'])


def test_partial_set_weights_cls_and_transfer_terms():
    torch.manual_seed(0)
    model = MODELS.build(
        _cfg(
            fixmatch_loss=FM,
            partial_set=dict(cls_weight=0.5, transfer_weight=0.1)))
    assert model.partial_set == dict(cls_weight=0.5, transfer_weight=0.1)
    _set_iter(10000)
    data = _fm_batch(model)
    model.label_set = [0, 2]
    weighted = model(**data, mode='loss')
    model.partial_set = None
    plain = model(**data, mode='loss')
    assert set(weighted) == set(plain)
    for key in plain:
        factor = 0.5 if key == 'loss_cls' else \
            0.1 if key.startswith('loss_') else 1.
        assert torch.allclose(
            weighted[key], factor * plain[key], atol=1e-6), key
    # default weights are the paper's
    model = MODELS.build(_cfg(partial_set=dict()))
    assert model.partial_set == dict(cls_weight=0.5, transfer_weight=0.1)
    with pytest.raises(ValueError, match='model.partial_set'):
        MODELS.build(_cfg(partial_set=dict(cls_weigth=0.5)))


def test_label_set_restricts_cmkd_target_terms():
    torch.manual_seed(0)
    model = MODELS.build(
        _cfg(partial_set=dict(cls_weight=1., transfer_weight=1.)))
    _set_iter(10000)
    data = model.data_preprocessor(
        dict(source=_branch(4), target=_branch(6, labels=False)), True)
    full = model(**data, mode='loss')
    model.label_set = [0, 1]
    part = model(**data, mode='loss')
    assert torch.allclose(part['loss_reg_src'], full['loss_reg_src'])
    assert not torch.allclose(part['loss_task'], full['loss_task'])


@pytest.mark.parametrize(
    'label_set', [None, [0, 2]], ids=['all_classes', 'partial_set'])
def test_training_step_makes_no_host_sync(label_set):
    """``train_step`` of CMKD + FixMatch (+ partial set) enqueues its work
    without reading the device: no ``.item()``/``bool()``/``.tolist()``,
    no data-dependent shapes, no per-step host-to-device copies of class
    indices (on a GPU each would stall the queue). The host reads left in
    a training iteration are mmengine's (RuntimeInfoHook: ``.item()`` of
    every logged value) and NonFiniteLossHook's one flag."""
    import copy

    from mmengine.optim import build_optim_wrapper

    from mmvlpuda.utils.host_sync import HostSyncCounter
    torch.manual_seed(0)
    model = MODELS.build(
        _cfg(fixmatch_loss=FM, partial_set=dict() if label_set else None))
    model.label_set = label_set
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
    data = dict(
        source=_branch(4),
        target=_branch(4, labels=False),
        target_strong=_branch(4, labels=False))
    model.train_step(copy.copy(data), optim)  # warm-up (cached indices)
    with HostSyncCounter() as syncs:
        log_vars = model.train_step(copy.copy(data), optim)
    assert syncs.calls == {}, syncs.calls
    assert {'loss', 'alpha', 'fm_mask_task'} <= set(log_vars)


def test_label_set_is_model_state():
    """The kept classes of partial-set DA are the buffer ``class_mask``:
    saved and restored with the weights; only partial-set models have it."""
    torch.manual_seed(0)
    model = MODELS.build(_cfg(partial_set=dict()))
    assert model.label_set is None and bool(model.class_mask.all())
    model.label_set = [0, 2]
    state = model.state_dict()
    assert state['class_mask'].tolist() == [True, False, True]
    other = MODELS.build(_cfg(partial_set=dict()))
    other.load_state_dict(state)
    assert other.label_set == [0, 2]
    plain = MODELS.build(_cfg())
    assert 'class_mask' not in plain.state_dict()
    with pytest.raises(ValueError, match='model.partial_set'):
        plain.label_set = [0]
