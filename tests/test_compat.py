"""mmcv._ext stand-in and mmengine checkpoint loading under torch >= 2.6."""
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, PYTHONWARNINGS='default')
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          env=env,
                          cwd=REPO_ROOT,
                          timeout=300)


def _full_mmcv_installed() -> bool:
    spec = importlib.util.find_spec('mmcv._ext')
    return spec is not None and spec.loader is not None


@pytest.mark.skipif(_full_mmcv_installed(), reason='full mmcv: no stand-in')
def test_standin_lets_mmseg_mmdet_import_and_warns_once():
    res = _run('import mmvlpuda.models, mmvlpuda.utils.compat as c\n'
               'import mmseg.models, mmdet.models\n'
               'c.install_mmcv_ext_standin()\n'
               'import importlib; importlib.reload(c)\n'
               'from mmseg.models.decode_heads import mask2former_head as m\n'
               'print(m.MMDET_Mask2FormerHead.__module__)\n')
    assert res.returncode == 0, res.stderr
    # the real mmdet head, not mmseg's silent BaseModule fallback
    assert 'mmdet' in res.stdout
    assert res.stderr.count('mmcv compiled ops (mmcv._ext) are missing') == 1


@pytest.mark.skipif(_full_mmcv_installed(), reason='full mmcv: no stand-in')
def test_calling_a_compiled_op_names_it_and_how_to_fix():
    from mmcv.ops import nms

    from mmvlpuda.utils import MissingCompiledOpError
    boxes = torch.tensor([[0., 0., 2., 2.], [0., 0., 2., 2.1]])
    with pytest.raises(MissingCompiledOpError) as err:
        nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    msg = str(err.value)
    assert 'nms' in msg and 'full mmcv' in msg and '\n' not in msg


def test_pytorch_fallback_ops_run():
    """mmcv ops with a PyTorch path (used by Mask2Former) work either way."""
    from mmcv.ops import point_sample
    out = point_sample(torch.rand(1, 2, 8, 8), torch.rand(1, 5, 2))
    assert out.shape == (1, 2, 5)


@pytest.mark.skipif(not _full_mmcv_installed(), reason='needs full mmcv')
def test_full_mmcv_is_left_alone():
    from mmcv.ops import nms

    import mmvlpuda.utils.compat as compat
    assert compat.install_mmcv_ext_standin() is False
    keep = nms(
        torch.tensor([[0., 0., 2., 2.], [0., 0., 2., 2.1]]),
        torch.tensor([0.9, 0.8]), 0.5)[1]
    assert keep.tolist() == [0]


def test_mmengine_checkpoint_with_message_hub_loads(tmp_path):
    """A checkpoint holding mmengine objects (HistoryBuffer, numpy) loads
    through mmengine's loader although torch defaults to weights_only."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint
    path = tmp_path / 'ckpt.pth'
    buf = HistoryBuffer()
    buf.update(1.5)
    torch.save(
        {
            'state_dict': {
                'w': torch.ones(2)
            },
            'hub': buf,
            'arr': np.arange(3)
        }, path)
    with pytest.raises(Exception):
        torch.load(path)  # what mmengine 0.10.7 would call
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert ckpt['hub'].current() == 1.5
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_mmpretrain_models_import():
    import mmpretrain.models  # noqa: F401
    from mmpretrain.registry import MODELS
    assert MODELS.get('ClsDataPreprocessor') is not None


# ------------------------------------------------ deformable attention on GPU
def _msda_inputs():
    from mmcv.ops import MultiScaleDeformableAttention
    torch.manual_seed(0)
    attn = MultiScaleDeformableAttention(
        embed_dims=16,
        num_heads=2,
        num_levels=2,
        num_points=2,
        batch_first=True)
    shapes = torch.tensor([[4, 4], [2, 2]])
    value = torch.randn(1, 20, 16)
    query = torch.randn(1, 5, 16)
    ref = torch.rand(1, 5, 2, 2)
    start = torch.tensor([0, 16])
    return attn, dict(
        query=query,
        value=value,
        reference_points=ref,
        spatial_shapes=shapes,
        level_start_index=start)


@pytest.fixture
def gpu_like_msda(monkeypatch):
    """mmcv's deformable attention as on a CUDA machine: the module flag
    computed from torch.cuda.is_available() at import is True and every
    tensor says it is on CUDA (the two halves of mmcv's dispatch)."""
    import mmcv.ops.multi_scale_deform_attn as msda

    import mmvlpuda.utils.compat as compat
    monkeypatch.setattr(msda, 'IS_CUDA_AVAILABLE', True)
    monkeypatch.delattr(msda, '__mmvlpuda_pytorch_fallback__', raising=False)
    monkeypatch.setattr(torch.Tensor, 'is_cuda', property(lambda t: True))
    calls, logged = [], []
    real = msda.multi_scale_deformable_attn_pytorch
    monkeypatch.setattr(msda, 'multi_scale_deformable_attn_pytorch',
                        lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(compat, '_log', logged.append)
    return msda, compat, calls, logged


@pytest.mark.skipif(_full_mmcv_installed(), reason='full mmcv: no stand-in')
def test_msda_takes_the_pytorch_path_with_the_standin_on_gpu(gpu_like_msda):
    msda, compat, calls, logged = gpu_like_msda
    from mmvlpuda.utils import MissingCompiledOpError
    attn, inputs = _msda_inputs()
    with pytest.raises(MissingCompiledOpError, match='ms_deform_attn'):
        attn(**inputs)  # the issue: the compiled op is called on "CUDA"
    assert compat.use_msda_pytorch_fallback() is True
    assert msda.IS_CUDA_AVAILABLE is False and not calls
    out = attn(**inputs)
    assert calls == [1] and out.shape == (1, 5, 16)
    assert compat.use_msda_pytorch_fallback() is True  # idempotent
    assert len(logged) == 1 and 'multi_scale_deformable_attn_pytorch' in \
        logged[0] and 'CUDA' in logged[0]


@pytest.mark.skipif(_full_mmcv_installed(), reason='full mmcv: no stand-in')
@pytest.mark.parametrize('situation', ['full_mmcv', 'mmcv_2_2'])
def test_msda_dispatch_left_alone_outside_mmcv_2_1_lite(
        gpu_like_msda, monkeypatch, situation):
    import types

    import mmcv
    msda, compat, calls, logged = gpu_like_msda
    if situation == 'full_mmcv':  # a real compiled extension module
        monkeypatch.setitem(sys.modules, 'mmcv._ext',
                            types.ModuleType('mmcv._ext'))
    else:
        monkeypatch.setattr(mmcv, '__version__', '2.2.0')
    assert compat.use_msda_pytorch_fallback() is False
    assert msda.IS_CUDA_AVAILABLE is True and not logged


def test_msda_dispatch_untouched_on_a_cpu_machine():
    """Importing mmvlpuda's models where CUDA is absent changes nothing in
    the dispatch, silently."""
    res = _run('import mmvlpuda.models\n'
               'import mmcv.ops.multi_scale_deform_attn as m\n'
               "print(m.IS_CUDA_AVAILABLE, hasattr(m, "
               "'__mmvlpuda_pytorch_fallback__'))\n")
    assert res.returncode == 0, res.stderr
    if not torch.cuda.is_available():
        assert res.stdout.split() == ['False', 'False']
        assert 'multi_scale_deformable_attn_pytorch' not in res.stderr


@pytest.mark.skipif(_full_mmcv_installed(), reason='full mmcv: no stand-in')
def test_importing_mmvlpuda_models_on_a_cuda_machine_applies_it_once():
    """As on a GPU box: mmcv sees CUDA at import, importing mmvlpuda's
    models points the dispatch at the PyTorch path, with one log line."""
    res = _run('import mmengine.device as d\n'
               'd.is_cuda_available = lambda: True  # what mmcv asks\n'
               'import mmvlpuda.models, mmvlpuda.utils.compat as c\n'
               'import mmcv.ops.multi_scale_deform_attn as m\n'
               'c.apply_runtime_fixes(); c.use_msda_pytorch_fallback()\n'
               'print(m.IS_CUDA_AVAILABLE)\n')
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[-1] == 'False'
    out = res.stdout + res.stderr
    assert out.count('multi_scale_deformable_attn_pytorch') == 1, out


# ------------------------------------------- nothing behind the user's back
def test_importing_mmvlpuda_changes_no_other_library():
    """``import mmvlpuda`` (and the serving path ``mmvlpuda.sparse``)
    imports no OpenMMLab library, patches nothing and installs no
    stand-in."""
    res = _run('import sys\n'
               'import mmvlpuda, mmvlpuda.sparse\n'
               "heavy = ('mmengine', 'mmcv', 'mmseg', 'mmdet', 'mmpretrain',"
               " 'peft', 'open_clip', 'transformers', 'timm')\n"
               "print(sorted({m.split('.')[0] for m in sys.modules} & "
               'set(heavy)))\n'
               'import mmengine.runner.checkpoint as ck, torch\n'
               'print(ck.torch is torch)\n')
    assert res.returncode == 0, res.stderr
    assert res.stdout.split('\n')[:2] == ['[]', 'True']
    assert 'mmvlpuda' not in res.stderr


def test_mmpretrain_models_import_without_mmvlpuda():
    """An mmpretrain script that never imports mmvlpuda still works in the
    environment setup.py resolves (transformers < 4.52 pinned there)."""
    res = _run('import mmpretrain.models\n'
               'from mmpretrain.registry import MODELS\n'
               "print(MODELS.get('ImageClassifier') is not None)\n")
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith('True')


def test_runtime_fixes_are_version_gated(monkeypatch):
    """The mmengine fixes act only on mmengine <= 0.10.7."""
    import mmengine

    import mmvlpuda.utils.compat as compat
    monkeypatch.setattr(mmengine, '__version__', '0.10.8')
    assert compat.patch_mmengine_checkpoint_loading() is False
    assert compat.patch_mmengine_cpu_dist_init() is False
