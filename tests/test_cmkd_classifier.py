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
        text_head=dict(type='TextZeroShotHead', classnames=CLASSES,
                       templates=['a photo of a {}.']))
    cfg.update(overrides)
    return cfg


def _branch(n, labels=True):
    samples = [DataSample().set_gt_label(i % 3) if labels else DataSample()
               for i in range(n)]
    return dict(inputs=torch.randint(0, 256, (n, 3, 64, 64)).float(),
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
    assert set(losses) == {'loss_cls', 'loss_task', 'loss_distill',
                           'loss_reg_src', 'loss_reg_tgt', 'alpha'}
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
    model = MODELS.build(_cfg(cmkd_loss=None, text_head=None,
                              task_head=dict(type='TaskHead',
                                             num_classes=3)))
    data = model.data_preprocessor(
        dict(source=_branch(4), target=_branch(4, labels=False)), True)
    assert set(model(**data, mode='loss')) == {'loss_cls'}


def test_text_tower_not_in_state_dict(model):
    keys = list(model.state_dict())
    assert keys and all(k.startswith(('backbone.visual.', 'task_head.'))
                        for k in keys)
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
