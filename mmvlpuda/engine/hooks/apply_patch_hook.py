from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmvlpuda.registry import HOOKS


@HOOKS.register_module()
class ApplyPatchHook(Hook):
    """Apply an RST patch before testing, i.e. after the Runner loaded
    ``load_from`` (the pretrained base the patch was made against).

    A patch that does not fit the base (other weights, other shapes, a
    damaged file) stops the run with the patch error in one line.

    Args:
        path (str): the patch file (``tools/export_patch.py`` /
            :class:`ExportPatchHook`).

    Example:
        >>> custom_hooks = [dict(type='mmvlpuda.ApplyPatchHook',
        ...                      path='work_dirs/a2c.patch')]
    """

    priority = 'VERY_LOW'

    def __init__(self, path: str):
        self.path = path

    def before_test(self, runner) -> None:
        from mmvlpuda.sparse import Patch, PatchError, apply_patch
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        try:
            patch = Patch.load(self.path)
            apply_patch(model, patch)
        except PatchError as e:
            raise SystemExit(str(e))
        runner.logger.info(f'applied patch {self.path}: {patch.nnz} '
                           f'nonzeros, DSP {patch.dsp / 1e6:.4f}M')
