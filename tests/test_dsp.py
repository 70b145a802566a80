"""One DSP count (paper Sec. IV-A) behind RSTHook, PEFTHook and Patch."""
import torch

from mmvlpuda.sparse import DSP_KEY, count_dsp, make_patch, model_dsp


def _model():
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(4, 3)  # 15 parameters
    model.task_head = torch.nn.Linear(3, 2)  # 8 parameters
    return model


def test_count_dsp_is_dense_elements_plus_residual_nonzeros():
    assert count_dsp([10, 5], residual_nnz=3) == 18
    assert count_dsp([]) == 0
    assert DSP_KEY == 'dsp'


def test_model_dsp_counts_trainable_dense_and_sparse_nonzeros():
    model = _model()
    assert model_dsp(model) == 23  # fine-tuning: everything
    model.backbone.bias.requires_grad_(False)
    assert model_dsp(model) == 20  # frozen parameters never count
    # RST: the backbone weight is a sparse residual with 2 nonzeros
    assert model_dsp(model, 2, sparse={'backbone.weight'}) == 10


def test_patch_dsp_uses_the_same_count():
    model = _model()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.backbone.weight[0, :2] += 1.
    patch = make_patch(
        model, base, names=['backbone.weight'], dense=('task_head', ))
    assert patch.nnz == 2
    assert patch.dsp == model_dsp(model, 2,
                                  {'backbone.weight', 'backbone.bias'}) == 10
