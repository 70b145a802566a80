import pytest
import torch
import torch.nn.functional as F

from mmvlpuda.models import ImageNetPrototypeHead


def _toy_head():
    """3 task classes; a 6-way 'ImageNet' classifier in which task class c
    activates ImageNet classes 2c and 2c+1."""
    torch.manual_seed(0)
    head = ImageNetPrototypeHead(num_classes=3)
    weight = torch.zeros(6, 3)
    for c in range(3):
        weight[2 * c:2 * c + 2, c] = 4.
    head.cls_weight = weight
    head.cls_bias = torch.zeros(6)
    head.prototypes = torch.full((3, 6), 1 / 6)
    return head


def _toy_data(n_per_class, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(3).repeat_interleave(n_per_class)
    feats = F.one_hot(labels, 3).float() + 0.15 * torch.randn(
        len(labels), 3, generator=g)
    return feats, labels


def test_fit_learns_prototypes_that_classify_the_fit_split():
    head = _toy_head()
    feats, labels = _toy_data(20, 0)
    val_feats, val_labels = _toy_data(20, 1)
    acc = head.fit(feats, labels, val_feats, val_labels)
    assert acc > 0.9
    assert bool(head.fitted)
    assert torch.allclose(head.prototypes.sum(1), torch.ones(3))
    # each prototype puts its mass on its two ImageNet classes
    for c in range(3):
        assert head.prototypes[c, 2 * c:2 * c + 2].sum() > 0.8
    probs = head(feats).softmax(1)
    assert torch.allclose(probs.sum(1), torch.ones(len(labels)))
    assert (probs.argmax(1) == labels).float().mean() == 1.


def test_logits_are_negative_kl_to_the_prototypes():
    head = _toy_head()
    head.fit(*_toy_data(10, 0), *_toy_data(10, 1))
    feats = torch.randn(5, 3)
    q = F.softmax(
        F.linear(feats, head.cls_weight, head.cls_bias) / head.temperature,
        dim=1)
    m = head.prototypes
    kl = (m[None] * (m[None].log() - q[:, None].log())).sum(-1)
    assert torch.allclose(head(feats), -kl, atol=1e-5)


def test_temperature_is_chosen_on_the_validation_split():
    head = _toy_head()
    feats, labels = _toy_data(20, 0)
    head.fit(feats, labels, *_toy_data(20, 1), temperatures=(1., 100.))
    # T=100 flattens q to near-uniform: a far worse validation NLL
    assert float(head.temperature) == 1.


def test_class_without_fit_samples_is_an_error():
    head = _toy_head()
    feats, labels = _toy_data(5, 0)
    keep = labels != 2
    with pytest.raises(ValueError, match='class 2'):
        head.fit(feats[keep], labels[keep], feats, labels)


def test_prototypes_are_checkpointed():
    head = _toy_head()
    head.fit(*_toy_data(10, 0), *_toy_data(10, 1))
    state = head.state_dict()
    assert {'prototypes', 'temperature', 'fitted'} <= set(state)
    fresh = _toy_head()
    fresh.load_state_dict(state)
    assert bool(fresh.fitted)
    assert torch.equal(fresh.prototypes, head.prototypes)
