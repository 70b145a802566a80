"""FixMatchLoss (paper App. B): mask, both pseudo-label sources, batch mean,
no gradient into the targets, partial-set zeroing."""
import pytest
import torch
import torch.nn.functional as F

from mmvlpuda.models.losses import FixMatchLoss, pseudo_labels
from mmvlpuda.registry import MODELS


def _probs(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_registered_with_paper_defaults():
    loss = MODELS.build(dict(type='FixMatchLoss'))
    assert isinstance(loss, FixMatchLoss)
    assert (loss.weight, loss.threshold) == (0.5, 0.95)


def test_mask_is_greater_or_equal_threshold():
    probs = _probs([
        [0.5, 0.3, 0.2],  # exactly at the threshold: kept
        [0.49, 0.31, 0.2],  # just below: dropped
        [0.1, 0.8, 0.1]
    ])  # above: kept
    labels, mask = pseudo_labels(probs, threshold=0.5)
    assert labels.tolist() == [0, 0, 1]
    assert mask.tolist() == [1., 0., 1.]
    # the paper default 0.95 at float32 precision counts as well
    probs = _probs([[0.95, 0.05], [0.9499, 0.0501]])
    assert pseudo_labels(probs, 0.95)[1].tolist() == [1., 0.]


def test_each_head_uses_its_own_pseudo_labels_and_whole_batch_mean():
    torch.manual_seed(0)
    # task head: sample 0 confident for class 0, sample 1 not confident
    p_task = _probs([[0.97, 0.02, 0.01], [0.4, 0.3, 0.3], [0.2, 0.2, 0.6],
                     [0.01, 0.01, 0.98]])
    # text head disagrees: confident for class 2 on sample 0, class 1 on 1
    p_text = _probs([[0.01, 0.03, 0.96], [0.02, 0.96, 0.02], [0.3, 0.3, 0.4],
                     [0.5, 0.5, 0.0]])
    z_task = torch.randn(4, 3, requires_grad=True)
    z_text = torch.randn(4, 3, requires_grad=True)
    loss = FixMatchLoss(weight=0.5, threshold=0.95)
    out = loss(p_task, p_text, z_task, z_text)

    ce_task = F.cross_entropy(
        z_task, torch.tensor([0, 0, 2, 2]), reduction='none')
    ce_text = F.cross_entropy(
        z_text, torch.tensor([2, 1, 2, 0]), reduction='none')
    mask_task = torch.tensor([1., 0., 0., 1.])
    mask_text = torch.tensor([1., 1., 0., 0.])
    # mean over all 4 samples (masked ones count as zeros)
    assert torch.allclose(out['loss_fm_task'],
                          0.5 * (ce_task * mask_task).sum() / 4)
    assert torch.allclose(out['loss_fm_text'],
                          0.5 * (ce_text * mask_text).sum() / 4)
    assert out['fm_mask_task'].item() == 0.5
    assert out['fm_mask_text'].item() == 0.5
    # swapping the sources would give other values: they are not mixed up
    swapped = loss(p_text, p_task, z_task, z_text)
    assert not torch.allclose(swapped['loss_fm_task'], out['loss_fm_task'])
    # only the loss terms are optimised (parse_losses sums keys with 'loss')
    assert sorted(k for k in out
                  if 'loss' in k) == ['loss_fm_task', 'loss_fm_text']
    assert not out['fm_mask_task'].requires_grad


def test_no_gradient_into_pseudo_labels_or_masks():
    p_task = torch.tensor([[0.97, 0.03], [0.6, 0.4]], requires_grad=True)
    p_text = torch.tensor([[0.02, 0.98], [0.99, 0.01]], requires_grad=True)
    z_task = torch.randn(2, 2, requires_grad=True)
    z_text = torch.randn(2, 2, requires_grad=True)
    out = FixMatchLoss(
        weight=1., threshold=0.95)(p_task, p_text, z_task, z_text)
    (out['loss_fm_task'] + out['loss_fm_text']).backward()
    assert p_task.grad is None and p_text.grad is None
    # confident rows get a gradient, the masked-out row none
    assert z_task.grad[0].abs().sum() > 0
    assert z_task.grad[1].abs().sum() == 0
    assert (z_text.grad.abs().sum(dim=1) > 0).all()


def test_nothing_confident_gives_zero_loss():
    p = torch.full((3, 4), 0.25)
    out = FixMatchLoss()(p, p, torch.randn(3, 4), torch.randn(3, 4))
    assert out['loss_fm_task'].item() == 0.
    assert out['fm_mask_text'].item() == 0.


def test_label_set_zeroes_complementary_classes_first():
    probs = _probs([
        [0.96, 0.03, 0.01],  # best kept class 1 at 0.03
        [0.02, 0.97, 0.01]
    ])  # kept class 1 confident
    labels, mask = pseudo_labels(probs, 0.95, label_set=[1, 2])
    assert labels.tolist() == [1, 1]
    # no renormalisation: 0.03 stays below the threshold
    assert mask.tolist() == [0., 1.]
    # any number of classes; the input is not modified in place
    probs = torch.softmax(torch.randn(5, 345), dim=1)
    before = probs.clone()
    labels, _ = pseudo_labels(probs, 0.0, label_set=[7, 300])
    assert set(labels.tolist()) <= {7, 300}
    assert torch.equal(probs, before)

    z = torch.randn(2, 3)
    full = FixMatchLoss(threshold=0.)(probs[:2, :3].softmax(1),
                                      probs[:2, :3].softmax(1), z, z)
    part = FixMatchLoss(threshold=0.)(
        probs[:2, :3].softmax(1),
        probs[:2, :3].softmax(1),
        z,
        z,
        label_set=[2])
    expected = 0.5 * F.cross_entropy(z, torch.tensor([2, 2]))
    assert torch.allclose(part['loss_fm_task'], expected)
    assert full.keys() == part.keys()


def test_shape_mismatch_and_bad_threshold_are_one_line_errors():
    with pytest.raises(ValueError, match='strong'):
        FixMatchLoss()(torch.rand(2, 3), torch.rand(2, 3), torch.rand(3, 3),
                       torch.rand(2, 3))
    with pytest.raises(ValueError, match='threshold'):
        FixMatchLoss(threshold=1.5)
