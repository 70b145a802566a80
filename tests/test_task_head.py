import torch

from mmvlpuda.models import TaskHead


def test_structure_and_init():
    """Official head: Wenlve-Zhou/VLP-UDA models/make_model.py:11-19 (BN
    weight 1, bias 0, only the bias frozen) and :38-42 (LayerNorm eps=1e-6,
    Linear without bias); App. D: "the bias remains fixed"."""
    torch.manual_seed(0)
    head = TaskHead(in_channels=512, num_classes=65)
    assert head.fc.bias is None
    assert torch.equal(head.bn.weight, torch.ones(512))
    assert torch.equal(head.bn.bias, torch.zeros(512))
    assert head.bn.weight.requires_grad and not head.bn.bias.requires_grad
    assert head.ln.eps == 1e-6
    assert abs(head.fc.weight.std().item() - 0.001) < 1e-4
    head.init_weights()  # mmengine calls this; the init must hold
    assert head.bn.weight.requires_grad and not head.bn.bias.requires_grad
    assert abs(head.fc.weight.std().item() - 0.001) < 1e-4


def test_bn_weight_trains_with_the_head_lr_and_bias_stays_zero():
    """The BN1d weight is in the head's param group (lr x head_lr_mult, as
    the official `classifier_layer.parameters()` group); the bias never
    moves (make_model.py:16)."""
    from mmengine.optim import build_optim_wrapper

    torch.manual_seed(0)
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(4, 8)
    model.task_head = TaskHead(in_channels=8, num_classes=3)
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='SGD', lr=1e-3, momentum=0.9),
            paramwise_cfg=dict(custom_keys={'task_head': dict(
                lr_mult=1000.)})))
    lr_of = {
        id(p): g['lr']
        for g in wrapper.optimizer.param_groups
        for p in g['params']
    }
    assert lr_of[id(model.task_head.bn.weight)] == 1.0
    assert id(model.task_head.bn.bias) not in lr_of or \
        not model.task_head.bn.bias.requires_grad
    x = torch.randn(16, 4)
    loss = torch.nn.functional.cross_entropy(
        model.task_head(model.backbone(x)), torch.randint(0, 3, (16, )))
    wrapper.update_params(loss)
    assert not torch.equal(model.task_head.bn.weight, torch.ones(8))
    assert torch.equal(model.task_head.bn.bias, torch.zeros(8))


def test_forward_is_bn_then_ln_then_linear():
    head = TaskHead(in_channels=8, num_classes=3).eval()
    x = torch.randn(5, 8)
    ref = head.fc(head.ln(head.bn(x)))
    assert torch.allclose(head(x), ref)
    assert head(x).shape == (5, 3)
    trainable = {n for n, p in head.named_parameters() if p.requires_grad}
    assert trainable == {'bn.weight', 'ln.weight', 'ln.bias', 'fc.weight'}


def test_without_batch_norm_train_and_eval_agree():
    head = TaskHead(in_channels=8, num_classes=3, batch_norm=False)
    assert head.bn is None
    x = torch.randn(5, 8)
    x[:, 0] = 0.  # a dead channel: no running statistics to go stale
    out_train = head.train()(x)
    assert torch.allclose(out_train, head.eval()(x))
    assert torch.allclose(out_train, head.fc(head.ln(x)))
