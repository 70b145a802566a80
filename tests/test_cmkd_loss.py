"""Behavioural tests of :class:`mmvlpuda.models.losses.cmkd_loss.CMKDLoss`.

Expected values are computed by hand (python floats / ``math``) on tiny
inputs whose probabilities are chosen to be simple fractions; the logits fed
to the loss are ``log`` of those probabilities so ``softmax`` recovers them.
"""
import math
import random

import pytest
import torch

import mmvlpuda  # noqa: F401  (installs compatibility shims, registers)
from mmvlpuda.models.losses.cmkd_loss import CMKDLoss
from mmvlpuda.registry import MODELS

T = 100
R_T = 2. / (1. + math.exp(-1.)) - 1.  # ramp once cur_iter >= T
L1, L2, L3 = 0.25, 0.1, 0.025
TOL = dict(rel=1e-5, abs=1e-6)

# ---------------------------------------------------------------------------
# Hand-picked 2x3 example
#   row 0: student == teacher          -> alpha_0 = 1 in both variants
#   row 1: p_h = [1/4, 1/2, 1/4], p_g = [1/8, 3/4, 1/8]
# ---------------------------------------------------------------------------
P_H = [[1 / 2, 1 / 4, 1 / 4], [1 / 4, 1 / 2, 1 / 4]]
P_G = [[1 / 2, 1 / 4, 1 / 4], [1 / 8, 3 / 4, 1 / 8]]
# source teacher probabilities; labels pick a 1/2 entry each -> CE = ln 2
P_S = [[1 / 2, 1 / 4, 1 / 4], [1 / 4, 1 / 4, 1 / 2]]
LABELS_S = [0, 2]

# KL(p_h,1 || p_g,1) = 1/4 ln 2 + 1/2 ln(2/3) + 1/4 ln 2 = 1/2 ln(4/3)
ALPHA_PAPER_1 = math.exp(-0.5 * math.log(4 / 3))  # = sqrt(3)/2
# KL(p_g,1 || p_h,1) = 1/8 ln(1/2) + 3/4 ln(3/2) + 1/8 ln(1/2)
ALPHA_UP_1 = math.exp(-(0.25 * math.log(0.5) + 0.75 * math.log(1.5)))


def _logits(probs):
    return torch.tensor(probs, dtype=torch.float64).log().float()


def _inputs(requires_grad=False):
    lt = _logits(P_H).requires_grad_(requires_grad)
    tt = _logits(P_G).requires_grad_(requires_grad)
    ts = _logits(P_S).requires_grad_(requires_grad)
    return lt, tt, ts, torch.tensor(LABELS_S)


def _val(x):
    return float(x.detach())


def test_hand_alpha_values_sanity():
    assert ALPHA_PAPER_1 == pytest.approx(math.sqrt(3) / 2)
    assert ALPHA_UP_1 == pytest.approx(2**0.25 * (2 / 3)**0.75)
    # the two variants must disagree on this row, so the test discriminates
    assert abs(ALPHA_PAPER_1 - ALPHA_UP_1) > 1e-2


def test_returned_keys_and_alpha_is_detached_per_sample():
    lt, tt, ts, ys = _inputs(requires_grad=True)
    out = CMKDLoss()(lt, tt, ts, ys, cur_iter=5)
    assert sorted(out) == [
        'alpha', 'loss_distill', 'loss_reg_src', 'loss_reg_tgt', 'loss_task'
    ]
    for k in ('loss_task', 'loss_distill', 'loss_reg_src', 'loss_reg_tgt'):
        assert out[k].dim() == 0, k
    assert out['alpha'].shape == (2, )
    assert not out['alpha'].requires_grad
    assert out['alpha'].grad_fn is None


def test_default_hyper_parameters():
    loss = CMKDLoss()
    assert loss.variant == 'upstream'
    assert (loss.lambda1, loss.lambda2, loss.lambda3) == (0.25, 0.1, 0.025)
    assert loss.ramp_iters == 10000


def test_paper_variant_hand_computed():
    lt, tt, ts, ys = _inputs()
    out = CMKDLoss('paper', L1, L2, L3, ramp_iters=T)(lt, tt, ts, ys, T)

    assert out['alpha'].tolist() == pytest.approx([1., ALPHA_PAPER_1], **TOL)

    gi_h0 = 1 - (1 / 4 + 1 / 16 + 1 / 16)  # 0.625
    gi_h1 = 1 - (1 / 16 + 1 / 4 + 1 / 16)  # 0.625
    gi_g0 = 1 - (1 / 4 + 1 / 16 + 1 / 16)  # 0.625
    gi_g1 = 1 - (1 / 64 + 9 / 16 + 1 / 64)  # 0.40625
    # p_m,0 = [1/2, 1/4, 1/4]; p_m,1 = [3/16, 10/16, 3/16]
    gi_m0 = 1 - (1 / 4 + 1 / 16 + 1 / 16)
    gi_m1 = 1 - ((3 / 16)**2 + (10 / 16)**2 + (3 / 16)**2)  # 0.5390625
    assert gi_g1 == 0.40625 and gi_m1 == 0.5390625

    a0, a1 = 1., ALPHA_PAPER_1
    exp_task = L1 * R_T * (a0 * gi_h0 + a1 * gi_h1) / 2
    exp_distill = L1 * R_T * ((1 - a0) * gi_m0 + (1 - a1) * gi_m1) / 2
    exp_src = L2 * math.log(2)
    exp_tgt = L3 * R_T * (gi_g0 + gi_g1) / 2

    assert _val(out['loss_task']) == pytest.approx(exp_task, **TOL)
    assert _val(out['loss_distill']) == pytest.approx(exp_distill, **TOL)
    assert _val(out['loss_reg_src']) == pytest.approx(exp_src, **TOL)
    assert _val(out['loss_reg_tgt']) == pytest.approx(exp_tgt, **TOL)


def test_upstream_variant_hand_computed():
    lt, tt, ts, ys = _inputs()
    out = CMKDLoss('upstream', L1, L2, L3, ramp_iters=T)(lt, tt, ts, ys, T)

    assert out['alpha'].tolist() == pytest.approx([1., ALPHA_UP_1], **TOL)

    # student: column sums S = [3/4, 3/4, 1/2]
    gib_h0 = 1 - ((1 / 2)**2 / (3 / 4) + (1 / 4)**2 / (3 / 4) + (1 / 4)**2 /
                  (1 / 2))
    gib_h1 = 1 - ((1 / 4)**2 / (3 / 4) + (1 / 2)**2 / (3 / 4) + (1 / 4)**2 /
                  (1 / 2))
    assert gib_h0 == pytest.approx(11 / 24) and gib_h1 == pytest.approx(
        11 / 24)
    # mixture: rows [1/2, 1/4, 1/4] and [3/16, 10/16, 3/16],
    #          S = [11/16, 14/16, 7/16]
    gib_m0 = 1 - ((1 / 2)**2 / (11 / 16) + (1 / 4)**2 / (14 / 16) +
                  (1 / 4)**2 / (7 / 16))
    gib_m1 = 1 - ((3 / 16)**2 / (11 / 16) + (10 / 16)**2 / (14 / 16) +
                  (3 / 16)**2 / (7 / 16))
    # teacher: rows [1/2, 1/4, 1/4] and [1/8, 3/4, 1/8], S = [5/8, 1, 3/8]
    gib_g0 = 1 - ((1 / 2)**2 / (5 / 8) + (1 / 4)**2 / 1 + (1 / 4)**2 / (3 / 8))
    gib_g1 = 1 - ((1 / 8)**2 / (5 / 8) + (3 / 4)**2 / 1 + (1 / 8)**2 / (3 / 8))

    a0, a1 = 1., ALPHA_UP_1
    # batch SUM (not mean) in the upstream variant
    exp_task = L1 * R_T * (a0 * gib_h0 + a1 * gib_h1)
    exp_distill = L1 * R_T * ((1 - a0) * gib_m0 + (1 - a1) * gib_m1)
    exp_src = L2 * math.log(2)
    exp_tgt = L3 * R_T * (gib_g0 + gib_g1)

    assert _val(out['loss_task']) == pytest.approx(exp_task, **TOL)
    assert _val(out['loss_distill']) == pytest.approx(exp_distill, **TOL)
    assert _val(out['loss_reg_src']) == pytest.approx(exp_src, **TOL)
    assert _val(out['loss_reg_tgt']) == pytest.approx(exp_tgt, **TOL)


def test_variants_differ_on_same_input():
    lt, tt, ts, ys = _inputs()
    up = CMKDLoss('upstream', ramp_iters=T)(lt, tt, ts, ys, T)
    pa = CMKDLoss('paper', ramp_iters=T)(lt, tt, ts, ys, T)
    assert not torch.allclose(up['alpha'], pa['alpha'])
    assert _val(up['loss_task']) != pytest.approx(_val(pa['loss_task']))
    # the source regulariser is shared by both variants
    assert _val(up['loss_reg_src']) == pytest.approx(_val(pa['loss_reg_src']))


def test_paper_variant_label_set_hand_computed():
    lt, tt, ts, ys = _inputs()
    out = CMKDLoss(
        'paper', L1, L2, L3, ramp_iters=T)(
            lt, tt, ts, ys, T, label_set=[0, 1])
    # alpha still from the full (3-class) distributions
    assert out['alpha'].tolist() == pytest.approx([1., ALPHA_PAPER_1], **TOL)

    # columns {0, 1} only, no renormalisation
    gi_h0 = 1 - ((1 / 2)**2 + (1 / 4)**2)
    gi_h1 = 1 - ((1 / 4)**2 + (1 / 2)**2)
    gi_m0 = 1 - ((1 / 2)**2 + (1 / 4)**2)
    gi_m1 = 1 - ((3 / 16)**2 + (10 / 16)**2)
    gi_g0 = 1 - ((1 / 2)**2 + (1 / 4)**2)
    gi_g1 = 1 - ((1 / 8)**2 + (3 / 4)**2)
    a1 = ALPHA_PAPER_1
    exp_task = L1 * R_T * (gi_h0 + a1 * gi_h1) / 2
    exp_distill = L1 * R_T * (0. * gi_m0 + (1 - a1) * gi_m1) / 2
    exp_tgt = L3 * R_T * (gi_g0 + gi_g1) / 2

    assert _val(out['loss_task']) == pytest.approx(exp_task, **TOL)
    assert _val(out['loss_distill']) == pytest.approx(exp_distill, **TOL)
    assert _val(out['loss_reg_tgt']) == pytest.approx(exp_tgt, **TOL)
    # the source term does not depend on the label set
    assert _val(out['loss_reg_src']) == pytest.approx(L2 * math.log(2), **TOL)


def test_upstream_variant_label_set_hand_computed():
    lt, tt, ts, ys = _inputs()
    full = CMKDLoss('upstream', L1, L2, L3, ramp_iters=T)(lt, tt, ts, ys, T)
    out = CMKDLoss(
        'upstream', L1, L2, L3, ramp_iters=T)(
            lt, tt, ts, ys, T, label_set=[1, 2])
    assert out['alpha'].tolist() == pytest.approx([1., ALPHA_UP_1], **TOL)
    assert torch.allclose(out['alpha'], full['alpha'])

    # columns {1, 2}
    # student rows [1/4, 1/4], [1/2, 1/4]; S = [3/4, 1/2]
    gib_h0 = 1 - ((1 / 4)**2 / (3 / 4) + (1 / 4)**2 / (1 / 2))
    gib_h1 = 1 - ((1 / 2)**2 / (3 / 4) + (1 / 4)**2 / (1 / 2))
    # mixture rows [1/4, 1/4], [10/16, 3/16]; S = [14/16, 7/16]
    gib_m0 = 1 - ((1 / 4)**2 / (14 / 16) + (1 / 4)**2 / (7 / 16))
    gib_m1 = 1 - ((10 / 16)**2 / (14 / 16) + (3 / 16)**2 / (7 / 16))
    # teacher rows [1/4, 1/4], [3/4, 1/8]; S = [1, 3/8]
    gib_g0 = 1 - ((1 / 4)**2 / 1 + (1 / 4)**2 / (3 / 8))
    gib_g1 = 1 - ((3 / 4)**2 / 1 + (1 / 8)**2 / (3 / 8))
    a1 = ALPHA_UP_1
    exp_task = L1 * R_T * (gib_h0 + a1 * gib_h1)
    exp_distill = L1 * R_T * (0. * gib_m0 + (1 - a1) * gib_m1)
    exp_tgt = L3 * R_T * (gib_g0 + gib_g1)

    assert _val(out['loss_task']) == pytest.approx(exp_task, **TOL)
    assert _val(out['loss_distill']) == pytest.approx(exp_distill, **TOL)
    assert _val(out['loss_reg_tgt']) == pytest.approx(exp_tgt, **TOL)
    assert _val(out['loss_task']) != pytest.approx(_val(full['loss_task']))
    assert _val(out['loss_reg_src']) == pytest.approx(
        _val(full['loss_reg_src']), **TOL)


# ---------------------------------------------------------------------------
# pure-python reference on random inputs (independent of the module helpers)
# ---------------------------------------------------------------------------
def _softmax_py(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    s = sum(e)
    return [v / s for v in e]


def _reference(variant, lt, tt, ts, ys, cur_iter, label_set, T_):
    r = 2 / (1 + math.exp(-min(cur_iter, T_) / T_)) - 1
    ph = [_softmax_py(row) for row in lt]
    pg = [_softmax_py(row) for row in tt]
    alpha = []
    for h, g in zip(ph, pg):
        p, q = (h, g) if variant == 'paper' else (g, h)
        kl = sum(pc * (math.log(pc) - math.log(qc)) for pc, qc in zip(p, q))
        alpha.append(math.exp(-max(kl, 0.)))
    cols = list(range(len(lt[0]))) if label_set is None else list(label_set)
    phk = [[row[c] for c in cols] for row in ph]
    pgk = [[row[c] for c in cols] for row in pg]
    pmk = [[0.5 * (a + b) for a, b in zip(h, g)] for h, g in zip(phk, pgk)]

    def gini(P, w):
        if variant == 'paper':
            vals = [
                wi * (1 - sum(v * v for v in row)) for wi, row in zip(w, P)
            ]
            return sum(vals) / len(vals)
        S = [sum(row[c] for row in P) for c in range(len(P[0]))]
        return sum(wi * (1 - sum(v * v / s for v, s in zip(row, S)))
                   for wi, row in zip(w, P))

    n = len(lt)
    ce = 0.
    for row, y in zip(ts, ys):
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        ce += lse - row[y]
    ce /= len(ts)
    return dict(
        loss_task=L1 * r * gini(phk, alpha),
        loss_distill=L1 * r * gini(pmk, [1 - a for a in alpha]),
        loss_reg_src=L2 * ce,
        loss_reg_tgt=L3 * r * gini(pgk, [1.] * n),
        alpha=alpha)


@pytest.mark.parametrize('variant', ['paper', 'upstream'])
@pytest.mark.parametrize('label_set', [None, [0, 2, 3]])
@pytest.mark.parametrize('cur_iter', [0, 37, T, 5 * T])
def test_matches_python_reference_on_random_inputs(variant, label_set,
                                                   cur_iter):
    seed = 1000 * (variant == 'paper') + 100 * (label_set is None) + cur_iter
    rng = random.Random(seed)
    n, c = 5, 4
    lt = [[rng.gauss(0, 2) for _ in range(c)] for _ in range(n)]
    tt = [[rng.gauss(0, 2) for _ in range(c)] for _ in range(n)]
    ts = [[rng.gauss(0, 2) for _ in range(c)] for _ in range(3)]
    ys = [rng.randrange(c) for _ in range(3)]
    exp = _reference(variant, lt, tt, ts, ys, cur_iter, label_set, T)
    out = CMKDLoss(
        variant, L1, L2, L3, ramp_iters=T)(
            torch.tensor(lt),
            torch.tensor(tt),
            torch.tensor(ts),
            torch.tensor(ys),
            cur_iter,
            label_set=label_set)
    for k in ('loss_task', 'loss_distill', 'loss_reg_src', 'loss_reg_tgt'):
        assert _val(out[k]) == pytest.approx(exp[k], rel=1e-4, abs=1e-6), k
    assert out['alpha'].tolist() == pytest.approx(
        exp['alpha'], rel=1e-4, abs=1e-6)


# ---------------------------------------------------------------------------
# alpha
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('variant', ['paper', 'upstream'])
@pytest.mark.parametrize('scale', [0.1, 1., 10., 100.])
def test_alpha_in_unit_interval_on_random_inputs(variant, scale):
    g = torch.Generator().manual_seed(int(scale * 10))
    lt = torch.randn(64, 7, generator=g) * scale
    tt = torch.randn(64, 7, generator=g) * scale
    out = CMKDLoss(variant)(lt, tt, torch.randn(4, 7, generator=g),
                            torch.tensor([0, 1, 2, 3]), 10)
    alpha = out['alpha']
    assert alpha.shape == (64, )
    assert torch.isfinite(alpha).all()
    assert (alpha >= 0).all() and (alpha <= 1).all()
    # genuinely different distributions -> some samples get alpha < 1
    assert (alpha < 1 - 1e-3).any()


@pytest.mark.parametrize('variant', ['paper', 'upstream'])
def test_alpha_is_one_when_student_equals_teacher(variant):
    g = torch.Generator().manual_seed(0)
    lt = torch.randn(6, 5, generator=g) * 3
    # a per-row constant shift leaves the softmax unchanged
    tt = lt + torch.arange(6.).unsqueeze(1)
    out = CMKDLoss(
        variant, ramp_iters=T)(lt, tt, torch.randn(2, 5), torch.tensor([0, 1]),
                               T)
    assert torch.allclose(out['alpha'], torch.ones(6), atol=1e-5)
    # alpha == 1 -> nothing is distilled
    assert _val(out['loss_distill']) == pytest.approx(0., abs=1e-6)


# ---------------------------------------------------------------------------
# ramp
# ---------------------------------------------------------------------------
def _ramp_via_loss(cur_iter, ramp_iters=T):
    """r(t) read off loss_reg_tgt with λ3 = 1 and a fixed teacher."""
    lt, tt, ts, ys = _inputs()
    loss = CMKDLoss('paper', 1., 1., 1., ramp_iters=ramp_iters)
    out = loss(lt, tt, ts, ys, cur_iter)
    gi_mean = ((1 - (1 / 4 + 1 / 16 + 1 / 16)) +
               (1 - (1 / 64 + 9 / 16 + 1 / 64))) / 2
    return _val(out['loss_reg_tgt']) / gi_mean, out


def test_ramp_zero_at_start():
    r, out = _ramp_via_loss(0)
    assert r == pytest.approx(0., abs=1e-7)
    assert _val(out['loss_task']) == pytest.approx(0., abs=1e-7)
    assert _val(out['loss_distill']) == pytest.approx(0., abs=1e-7)
    # the source regulariser is not ramped
    assert _val(out['loss_reg_src']) == pytest.approx(math.log(2), **TOL)


def test_ramp_midway_and_saturation():
    assert R_T == pytest.approx(0.4621, abs=1e-4)
    r_half, _ = _ramp_via_loss(T // 2)
    assert r_half == pytest.approx(2 / (1 + math.exp(-0.5)) - 1, **TOL)
    assert r_half == pytest.approx(math.tanh(0.25), **TOL)
    r_T, _ = _ramp_via_loss(T)
    assert r_T == pytest.approx(R_T, **TOL)
    # clamped beyond T
    for t in (T + 1, 3 * T, 10**6):
        r_t, _ = _ramp_via_loss(t)
        assert r_t == pytest.approx(R_T, **TOL)


def test_ramp_is_monotone_before_saturation():
    rs = [_ramp_via_loss(t)[0] for t in (0, 10, 25, 50, 75, 99, 100)]
    assert all(a < b for a, b in zip(rs, rs[1:]))


def test_ramp_iters_default_is_10000():
    lt, tt, ts, ys = _inputs()
    loss = CMKDLoss('paper', 1., 1., 1.)
    a = _val(loss(lt, tt, ts, ys, 5000)['loss_reg_tgt'])
    b = _val(loss(lt, tt, ts, ys, 10000)['loss_reg_tgt'])
    c = _val(loss(lt, tt, ts, ys, 20000)['loss_reg_tgt'])
    assert a / b == pytest.approx(math.tanh(0.25) / R_T, **TOL)
    assert c == pytest.approx(b, **TOL)


# ---------------------------------------------------------------------------
# gradients / stop-gradients
# ---------------------------------------------------------------------------
def _grad(out, inp):
    (g, ) = torch.autograd.grad(out, inp, retain_graph=True, allow_unused=True)
    return g


def _is_zero_grad(g):
    return g is None or torch.count_nonzero(g) == 0


def _random_inputs(seed=0, n=4, c=3):
    g = torch.Generator().manual_seed(seed)
    lt = (torch.randn(n, c, generator=g) * 2).requires_grad_(True)
    tt = (torch.randn(n, c, generator=g) * 2).requires_grad_(True)
    ts = (torch.randn(n, c, generator=g) * 2).requires_grad_(True)
    ys = torch.randint(0, c, (n, ), generator=g)
    return lt, tt, ts, ys


@pytest.mark.parametrize('variant', ['paper', 'upstream'])
def test_stop_gradients_into_teacher(variant):
    lt, tt, ts, ys = _random_inputs()
    out = CMKDLoss(variant, ramp_iters=T)(lt, tt, ts, ys, T)
    # task and distill terms never push the target teacher
    assert _is_zero_grad(_grad(out['loss_task'], tt))
    assert _is_zero_grad(_grad(out['loss_distill'], tt))
    # target-side terms do not touch the source logits
    for k in ('loss_task', 'loss_distill', 'loss_reg_tgt'):
        assert _is_zero_grad(_grad(out[k], ts)), k
    # the target regulariser does reach the teacher
    g_tgt = _grad(out['loss_reg_tgt'], tt)
    assert g_tgt is not None and g_tgt.abs().sum() > 0
    assert _is_zero_grad(_grad(out['loss_reg_tgt'], lt))
    # source regulariser reaches the source teacher logits only
    g_src = _grad(out['loss_reg_src'], ts)
    assert g_src is not None and g_src.abs().sum() > 0
    assert _is_zero_grad(_grad(out['loss_reg_src'], lt))
    assert _is_zero_grad(_grad(out['loss_reg_src'], tt))
    # the student is trained by task and distill terms
    for k in ('loss_task', 'loss_distill'):
        g = _grad(out[k], lt)
        assert g is not None and g.abs().sum() > 0, k
    assert not out['alpha'].requires_grad


def _manual_terms(variant,
                  lt,
                  tt,
                  detach_alpha=True,
                  detach_colsum=True,
                  detach_teacher_in_mix=True):
    """Torch re-implementation with switchable stop-gradients (used only to
    compare autograd gradients)."""
    r = R_T
    ph, pg = lt.softmax(1), tt.softmax(1)
    p, q = (ph, pg) if variant == 'paper' else (pg, ph)
    kl = (p * (p.log() - q.log())).sum(1)
    alpha = torch.exp(-kl)
    if detach_alpha:
        alpha = alpha.detach()
    pm = 0.5 * (ph + (pg.detach() if detach_teacher_in_mix else pg))

    def gini(P, w):
        if variant == 'paper':
            return (w * (1 - (P * P).sum(1))).mean()
        S = P.sum(0, keepdim=True)
        if detach_colsum:
            S = S.detach()
        return (w * (1 - (P * P / S).sum(1))).sum()

    return (L1 * r * gini(ph, alpha), L1 * r * gini(pm, 1 - alpha),
            L3 * r * gini(pg, torch.ones(len(lt))))


@pytest.mark.parametrize('variant', ['paper', 'upstream'])
def test_gradients_match_stopped_reference(variant):
    lt, tt, ts, ys = _random_inputs(seed=3, n=5, c=4)
    out = CMKDLoss(variant, L1, L2, L3, ramp_iters=T)(lt, tt, ts, ys, T)
    task, distill, tgt = _manual_terms(variant, lt, tt)
    assert torch.allclose(
        _grad(out['loss_task'], lt), _grad(task, lt), atol=1e-6)
    assert torch.allclose(
        _grad(out['loss_distill'], lt), _grad(distill, lt), atol=1e-6)
    assert torch.allclose(
        _grad(out['loss_reg_tgt'], tt), _grad(tgt, tt), atol=1e-6)


def test_upstream_column_sums_are_detached():
    lt, tt, ts, ys = _random_inputs(seed=5, n=5, c=4)
    out = CMKDLoss('upstream', L1, L2, L3, ramp_iters=T)(lt, tt, ts, ys, T)
    _, _, tgt_stopped = _manual_terms('upstream', lt, tt)
    _, _, tgt_live = _manual_terms('upstream', lt, tt, detach_colsum=False)
    # identical value, different gradient: the module uses sg(S_c)
    assert _val(out['loss_reg_tgt']) == pytest.approx(_val(tgt_live), **TOL)
    g_mod = _grad(out['loss_reg_tgt'], tt)
    assert torch.allclose(g_mod, _grad(tgt_stopped, tt), atol=1e-6)
    assert not torch.allclose(g_mod, _grad(tgt_live, tt), atol=1e-4)


@pytest.mark.parametrize('variant', ['paper', 'upstream'])
def test_alpha_carries_no_gradient(variant):
    lt, tt, ts, ys = _random_inputs(seed=7, n=5, c=4)
    out = CMKDLoss(variant, L1, L2, L3, ramp_iters=T)(lt, tt, ts, ys, T)
    task_live, _, _ = _manual_terms(variant, lt, tt, detach_alpha=False)
    g_mod = _grad(out['loss_task'], lt)
    g_live = _grad(task_live, lt)
    # if alpha were differentiable, the gradient would differ
    assert not torch.allclose(g_mod, g_live, atol=1e-5)


# ---------------------------------------------------------------------------
# upstream GI rewards batch diversity
# ---------------------------------------------------------------------------
def _gi_of_teacher(variant, classes, n_cls=5, margin=30.):
    B = len(classes)
    tt = torch.full((B, n_cls), 0.)
    tt[torch.arange(B), torch.tensor(classes)] = margin  # near one-hot
    loss = CMKDLoss(variant, 1., 1., 1., ramp_iters=T)
    out = loss(
        torch.zeros(B, n_cls), tt, torch.zeros(1, n_cls), torch.tensor([0]), T)
    return _val(out['loss_reg_tgt']) / R_T


@pytest.mark.parametrize('B', [2, 4, 5])
def test_upstream_gini_batch_diversity(B):
    same = _gi_of_teacher('upstream', [0] * B)
    distinct = _gi_of_teacher('upstream', list(range(B)))
    assert same == pytest.approx(B - 1, abs=1e-3)
    assert distinct == pytest.approx(0., abs=1e-3)


def test_upstream_gini_counts_distinct_classes():
    # B - (number of distinct predicted classes)
    assert _gi_of_teacher('upstream', [0, 0, 1, 1]) == pytest.approx(
        4 - 2, abs=1e-3)
    assert _gi_of_teacher('upstream', [0, 0, 0, 1]) == pytest.approx(
        4 - 2, abs=1e-3)
    assert _gi_of_teacher('upstream', [0, 1, 2, 2]) == pytest.approx(
        4 - 3, abs=1e-3)


def test_paper_gini_ignores_batch_diversity():
    assert _gi_of_teacher('paper', [0] * 4) == pytest.approx(0., abs=1e-3)
    assert _gi_of_teacher('paper', [0, 1, 2, 3]) == pytest.approx(0., abs=1e-3)


# ---------------------------------------------------------------------------
# construction
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('bad', ['Paper', 'official', '', 'up'])
def test_bad_variant_raises(bad):
    with pytest.raises(ValueError, match='variant'):
        CMKDLoss(variant=bad)


def test_build_from_registry():
    loss = MODELS.build(
        dict(type='CMKDLoss', variant='paper', lambda1=0.5, ramp_iters=T))
    assert isinstance(loss, CMKDLoss)
    lt, tt, ts, ys = _inputs()
    built = loss(lt, tt, ts, ys, T)
    direct = CMKDLoss('paper', 0.5, ramp_iters=T)(lt, tt, ts, ys, T)
    for k in ('loss_task', 'loss_distill', 'loss_reg_src', 'loss_reg_tgt'):
        assert _val(built[k]) == pytest.approx(_val(direct[k]), **TOL)
