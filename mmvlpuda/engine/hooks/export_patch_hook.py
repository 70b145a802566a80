import os.path as osp

from mmengine.dist import master_only
from mmengine.hooks import Hook

from mmvlpuda.registry import HOOKS


@HOOKS.register_module()
class ExportPatchHook(Hook):
    """Save the RST patch of the final model when training ends.

    The patch is :meth:`RSTHook.make_patch` of the run's :class:`RSTHook`
    (the same recipe as ``tools/export_patch.py CKPT from-ckpt``): the
    selected tensors sparse against w0, the dense trainable tensors and
    recorded buffers whole. Written atomically, by the main process only.

    Args:
        filename (str): patch file, relative to the work dir (or absolute).
            Defaults to 'final.patch'.

    Example:
        >>> custom_hooks = [
        ...     dict(type='mmvlpuda.RSTHook', tau=1e-6),
        ...     dict(type='mmvlpuda.ExportPatchHook', filename='a2c.patch')]
    """

    priority = 'LOW'

    def __init__(self, filename: str = 'final.patch'):
        self.filename = filename

    @master_only
    def after_train(self, runner) -> None:
        from .rst_hook import RSTHook
        rst = [h for h in runner.hooks if isinstance(h, RSTHook)]
        if not rst:
            raise ValueError('ExportPatchHook needs an RSTHook in '
                             '`custom_hooks` (nothing to export)')
        path = osp.join(runner.work_dir, self.filename)
        patch = rst[0].make_patch(runner, iter=runner.iter)
        patch.save(path)
        runner.logger.info(f'ExportPatchHook: wrote {path}: {patch.nnz:,} '
                           f'residual nonzeros, DSP {patch.dsp:,}')
