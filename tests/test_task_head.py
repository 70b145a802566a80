import torch

from mmvlpuda.models import TaskHead


def test_structure_and_init():
    torch.manual_seed(0)
    head = TaskHead(in_channels=512, num_classes=65)
    assert head.fc.bias is None
    assert torch.equal(head.bn.weight, torch.ones(512))
    assert torch.equal(head.bn.bias, torch.zeros(512))
    assert not head.bn.weight.requires_grad and not head.bn.bias.requires_grad
    assert abs(head.fc.weight.std().item() - 0.001) < 1e-4
    head.init_weights()  # mmengine calls this; the init must hold
    assert not head.bn.weight.requires_grad
    assert abs(head.fc.weight.std().item() - 0.001) < 1e-4


def test_forward_is_bn_then_ln_then_linear():
    head = TaskHead(in_channels=8, num_classes=3).eval()
    x = torch.randn(5, 8)
    ref = head.fc(head.ln(head.bn(x)))
    assert torch.allclose(head(x), ref)
    assert head(x).shape == (5, 3)
    trainable = {n for n, p in head.named_parameters() if p.requires_grad}
    assert trainable == {'ln.weight', 'ln.bias', 'fc.weight'}


def test_without_batch_norm_train_and_eval_agree():
    head = TaskHead(in_channels=8, num_classes=3, batch_norm=False)
    assert head.bn is None
    x = torch.randn(5, 8)
    x[:, 0] = 0.  # a dead channel: no running statistics to go stale
    out_train = head.train()(x)
    assert torch.allclose(out_train, head.eval()(x))
    assert torch.allclose(out_train, head.fc(head.ln(x)))
