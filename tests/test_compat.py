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
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, env=env, cwd=REPO_ROOT, timeout=300)


def _full_mmcv_installed() -> bool:
    spec = importlib.util.find_spec('mmcv._ext')
    return spec is not None and spec.loader is not None


@pytest.mark.skipif(_full_mmcv_installed(), reason='full mmcv: no stand-in')
def test_standin_lets_mmseg_mmdet_import_and_warns_once():
    res = _run('import mmvlpuda, mmvlpuda.utils.compat as c\n'
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
    keep = nms(torch.tensor([[0., 0., 2., 2.], [0., 0., 2., 2.1]]),
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
    torch.save({'state_dict': {'w': torch.ones(2)}, 'hub': buf,
                'arr': np.arange(3)}, path)
    with pytest.raises(Exception):
        torch.load(path)  # what mmengine 0.10.7 would call
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert ckpt['hub'].current() == 1.5
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_mmpretrain_models_import():
    import mmpretrain.models  # noqa: F401
    from mmpretrain.registry import MODELS
    assert MODELS.get('ClsDataPreprocessor') is not None
