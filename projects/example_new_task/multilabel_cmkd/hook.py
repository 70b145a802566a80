import os.path as osp

from mmengine.dist import master_only
from mmengine.hooks import Hook

from mmvlpuda.engine.hooks import RSTHook
from mmvlpuda.registry import HOOKS
from mmvlpuda.sparse import make_patch


@HOOKS.register_module()
class ExportPatchHook(Hook):
    """After training, save the RST patch to ``work_dir/filename``; every
    tensor under the ``dense`` prefixes (buffers too) is stored whole."""

    def __init__(self, filename='final.patch', dense=('task_head', )):
        self.filename, self.dense = filename, tuple(dense)

    @master_only
    def after_train(self, runner):
        rst = next(h for h in runner.hooks if isinstance(h, RSTHook))
        w0 = rst.w0_state_dict()
        model = getattr(runner.model, 'module', runner.model)
        patch = make_patch(model, w0, names=list(w0), dense=self.dense,
                           tau=rst.current_tau(), iter=runner.iter)
        patch.save(osp.join(runner.work_dir, self.filename))
        runner.logger.info(f'{self.filename}: {patch.nnz} nonzeros, '
                           f'DSP {patch.dsp}')
