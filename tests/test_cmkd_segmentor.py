"""CMKD for segmentation (paper App. L, mmvlpuda.models.segmentors)."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import REPO_ROOT
from mmvlpuda.models.losses.cmkd_loss import ramp_weight
from mmvlpuda.models.segmentors import image_confidence
from mmvlpuda.models.segmentors.dacs import set_pad_shape
from mmvlpuda.registry import MODELS
from mmvlpuda.utils import load_config
from seg_data import TINY_M2F
from test_dacs import at_iter, batch


def build(**options):
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs', 'seg', 'cs2acdc_m2f_cmkd.py'),
        dict(TINY_M2F, **options))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def loss_sum(losses):
    return sum(v for k, v in losses.items() if 'loss' in k)


def test_image_confidence_in_unit_interval_and_direction():
    torch.manual_seed(0)
    p = torch.softmax(torch.randn(2, 5, 3, 3) * 3, dim=1)
    q = torch.softmax(torch.randn(2, 5, 3, 3) * 3, dim=1)
    for variant in ('paper', 'upstream'):
        alpha = image_confidence(p, q, variant)
        assert alpha.shape == (2, ) and not alpha.requires_grad
        assert torch.all((alpha >= 0) & (alpha <= 1))
        assert torch.allclose(image_confidence(p, p, variant), torch.ones(2))
    # KL is asymmetric: the two documented directions differ
    assert not torch.allclose(
        image_confidence(p, q, 'paper'), image_confidence(p, q, 'upstream'))
    # alpha falls as the frozen view moves away from the student
    near = 0.9 * p + 0.1 * q
    assert torch.all(image_confidence(p, q) < image_confidence(p, near))
    assert torch.all(image_confidence(p, near) < image_confidence(p, p))
    # the default is CMKDLoss's ('upstream')
    assert torch.equal(
        image_confidence(p, q), image_confidence(p, q, 'upstream'))


def test_first_iteration_freezes_the_pretrained_head():
    m = build(max_iters=4)
    with torch.no_grad():  # make the student's head differ from init
        for p in m.frozen_head.parameters():
            p.add_(1.)
    at_iter(0)
    losses = m(**batch(m, size=64), mode='loss')
    for (n, p), q in zip(m.model.decode_head.named_parameters(),
                         m.frozen_head.parameters()):
        assert torch.equal(p, q), n
    assert not any(p.requires_grad for p in m.frozen_head.parameters())
    # F == F-check at t=0: alpha = 1; lambda(0) = 0
    assert float(losses['alpha']) == pytest.approx(1.)
    assert float(losses['tgt.loss_task']) == 0.
    assert float(losses['tgt.loss_distill']) == 0.


def test_pseudo_labels_alpha_and_loss_weights():
    m = build(max_iters=4)
    opt = torch.optim.SGD(m.model.parameters(), lr=0.5)
    frozen0 = None
    for it in range(2):  # move the student away from the frozen head
        at_iter(it)
        opt.zero_grad()
        loss_sum(m(**batch(m, size=64), mode='loss')).backward()
        opt.step()
        if frozen0 is None:  # taken from the student at iteration 0
            frozen0 = [p.clone() for p in m.frozen_head.parameters()]
    for p, q in zip(m.frozen_head.parameters(), frozen0):
        assert torch.equal(p, q)  # the teacher head never trains
    data = batch(m, size=64)
    set_pad_shape(data['target'])  # as forward(mode='loss') does
    x_t, s_t = data['target']['inputs'], data['target']['data_samples']
    alpha, task, distill, weight = m.target_pseudo_labels(x_t, s_t)
    p_ema = m.teacher_probabilities(x_t, s_t)
    p_student, p_frozen = m.student_and_frozen_probabilities(x_t, s_t)
    # Mask2Former scores normalised into per-pixel class distributions
    assert torch.allclose(p_ema.sum(1), torch.ones_like(p_ema[:, 0]))
    assert torch.equal(task, p_ema.argmax(1))
    assert torch.equal(distill, (0.5 * (p_ema + p_frozen)).argmax(1))
    assert m.variant == 'paper'  # the config's KL(F || F-check)
    assert torch.allclose(alpha, image_confidence(p_student, p_frozen,
                                                  'paper'))
    assert torch.all((alpha >= 0) & (alpha <= 1))
    frac = float((p_ema.max(1).values >= m.pseudo_threshold).float().mean())
    assert torch.allclose(weight, torch.full_like(weight, frac))
    # the target terms carry lambda(t) = 0.25 * ramp(t, T)
    it = 2
    at_iter(it)
    losses = m(**data, mode='loss')
    lam = 0.25 * ramp_weight(it, 4)
    assert lam > 0
    assert float(losses['src.decode.loss_cls']) > 0
    assert float(losses['tgt.loss_task']) >= 0.
    assert float(losses['tgt.loss_task'] + losses['tgt.loss_distill']) > 0


@pytest.mark.parametrize('config',
                         ['cs2acdc_m2f_cmkd', 'cs2acdc_m2f_cmkd_rst'])
def test_lambda_ramps_over_1e4_iterations_like_classification(config):
    """λ(t) of CMKD-seg is the classification ramp (paper App. L refers to
    the main text's Eq. (13)): official VLP-UDA ``main.py:277``
    ``setattr(args, "max_iter", 10000)`` and ``utils/tools.py:43-49``
    (``LambdaSheduler``: 2/(1+exp(-t/max_iter)) - 1, t capped at
    max_iter), i.e. λ1·r(10000) = 0.25 · 0.462 ≈ 0.116 whatever the run
    length (40k here; a 40k ramp gave 0.031 at 10k)."""
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs', 'seg', f'{config}.py'),
        dict(TINY_M2F, max_iters=40000))
    seg = MODELS.build(cfg.model)
    cls = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                 'cmkd_clip.py')).model.cmkd_loss
    cls = MODELS.build(cls)
    for t in (0, 2500, 5000, 10000, 20000, 40000):
        expected = cls.lambda1 * ramp_weight(t, cls.ramp_iters)
        assert seg.cmkd_lambda(t) == pytest.approx(expected, rel=1e-12)
    assert seg.cmkd_lambda(10000) == pytest.approx(
        0.25 * (2 / (1 + math.exp(-1)) - 1))  # 0.1155, not 0.031
    assert seg.cmkd_lambda(40000) == seg.cmkd_lambda(10000)


def test_unknown_variant_is_one_line_error():
    with pytest.raises(ValueError, match='key `variant`'):
        build(**{'model.variant': 'reverse'})


def test_argument_names_are_the_classification_ones():
    """``variant`` / ``lambda1`` as :class:`CMKDLoss`, ``cls_weight`` as
    :class:`CMKDClassifier`, ``ema_momentum`` as :class:`DACS`; the
    defaults of ``variant`` agree with CMKDLoss; the old names warn."""
    import inspect

    from mmvlpuda.models.losses.cmkd_loss import CMKDLoss
    from mmvlpuda.models.segmentors import CMKDSegmentor
    seg = inspect.signature(CMKDSegmentor.__init__).parameters
    loss = inspect.signature(CMKDLoss.__init__).parameters
    for name in ('variant', 'lambda1', 'ramp_iters'):
        assert seg[name].default == loss[name].default, name
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs', 'seg', 'cs2acdc_m2f_cmkd.py'),
        TINY_M2F).model
    for key in ('ema_momentum', 'cls_weight', 'lambda1', 'variant'):
        cfg.pop(key)
    old = dict(alpha=0.9, sup_weight=0.2, cmkd_weight=0.3, kl_variant='paper')
    with pytest.warns(DeprecationWarning) as record:
        m = MODELS.build(dict(cfg, **old))
    messages = {str(w.message) for w in record}
    for old_name, new_name in (('alpha', 'ema_momentum'), ('sup_weight',
                                                           'cls_weight'),
                               ('cmkd_weight', 'lambda1'), ('kl_variant',
                                                            'variant')):
        assert (f'CMKDSegmentor: `{old_name}` is deprecated, use '
                f'`{new_name}`') in messages
    assert (m.ema_momentum, m.cls_weight, m.lambda1,
            m.variant) == (0.9, 0.2, 0.3, 'paper')
    with pytest.raises(
            TypeError,
            match='both `lambda1` and its '
            'deprecated name `cmkd_weight`'):
        MODELS.build(dict(cfg, lambda1=0.25, cmkd_weight=0.3))
