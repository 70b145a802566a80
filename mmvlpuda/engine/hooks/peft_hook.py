import math
import warnings
from typing import List, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmvlpuda.models.peft import PEFTBackbone
from mmvlpuda.models.peft.adalora import STATE_PREFIX, state_to_tensors
from mmvlpuda.registry import HOOKS
from mmvlpuda.sparse import DSP_KEY, model_dsp

# checkpoint entry where PEFTHook used to keep the first AdaLoRA backbone's
# allocator state; each PEFTBackbone now keeps its own in `state_dict`
LEGACY_ADALORA_KEY = 'adalora'


def _optim_wrappers(optim_wrapper) -> list:
    inner = getattr(optim_wrapper, 'optim_wrappers', None)
    return list(inner.values()) if inner is not None else [optim_wrapper]


@HOOKS.register_module()
class PEFTHook(Hook):
    """Training-time side of :class:`PEFTBackbone` (paper Table VII).

    * ``before_train``: logs the domain-specific parameters
      (DSP = trainable/added backbone parameters + trainable parameters
      outside the backbone, i.e. the task head), stores them in the message
      hub (``dsp``; the scalar ``val/dsp`` at every validation, as
      :class:`RSTHook`) and in ``checkpoint['meta']['dsp']``.
    * AdaLoRA backbones: sets ``total_step`` to the number of optimizer
      steps of the run (``train_cfg.max_iters / accumulative_counts``)
      unless ``peft_cfg.total_step`` was given, and registers two hooks on
      the optimizer holding the adapters. mmengine's
      ``OptimWrapper.update_params`` runs backward, step and zero_grad in
      one call, so an ``after_train_iter`` hook sees no gradients; the
      optimizer's step *pre*-hook adds the gradient of AdaLoRA's orthogonal
      regulariser (``orth_reg_weight``; peft only adds it to HF model
      outputs with a ``.loss``) and the step *post*-hook calls
      ``update_and_allocate(step)`` — after the step, before zero_grad, as
      peft requires. Steps skipped by AMP's loss scaler call neither. The
      regulariser (``train/adalora_orth_reg``) and the active rank budget
      (``train/adalora_rank``) are logged. The allocator state (rank
      pattern, sensitivity EMAs) is each backbone's own ``state_dict``
      entry, so checkpoints and ``--resume`` carry it for every backbone;
      a checkpoint written before (hook-level ``checkpoint['adalora']``)
      is read into every AdaLoRA backbone once, with a DeprecationWarning.

    Args:
        log_ranks (bool): log the AdaLoRA rank of every adapted matrix at
            the end of training. Defaults to True.

    Example:
        >>> custom_hooks = [dict(type='PEFTHook')]
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, log_ranks: bool = True):
        self.log_ranks = log_ranks
        self.dsp: Optional[int] = None
        self._handles: list = []

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    @staticmethod
    def _peft_backbones(model) -> List[PEFTBackbone]:
        return [m for m in model.modules() if isinstance(m, PEFTBackbone)]

    @staticmethod
    def _named_adalora(model) -> List[Tuple[str, PEFTBackbone]]:
        return [(n, m) for n, m in model.named_modules()
                if isinstance(m, PEFTBackbone) and m.method == 'adalora']

    def _adalora(self, runner) -> List[PEFTBackbone]:
        return [b for _, b in self._named_adalora(self._model(runner))]

    # DSP -----------------------------------------------------------------
    def count_dsp(self, runner) -> dict:
        """``dict(total, backbone, other)``: :func:`model_dsp` of the model,
        of its PEFT backbones, and the rest (the task head)."""
        model = self._model(runner)
        backbone = sum(model_dsp(b) for b in self._peft_backbones(model))
        total = model_dsp(model)
        return dict(total=total, backbone=backbone, other=total - backbone)

    def before_train(self, runner) -> None:
        model = self._model(runner)
        dsp = self.count_dsp(runner)
        self.dsp = dsp['total']
        methods = sorted({b.method for b in self._peft_backbones(model)})
        runner.message_hub.update_info(DSP_KEY, dsp['total'])
        print_log(
            f"PEFTHook: method={','.join(methods) or 'none'} DSP "
            f"{dsp['total']:,} ({dsp['total'] / 1e6:.4f}M) = backbone "
            f"{dsp['backbone']:,} + head/other {dsp['other']:,}",
            logger='current')
        self._attach_adalora(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.dsp is not None:
            runner.message_hub.update_scalar(f'val/{DSP_KEY}', self.dsp)

    def _attach_adalora(self, runner) -> None:
        backbones = self._adalora(runner)
        if not backbones:
            return
        wrappers = _optim_wrappers(runner.optim_wrapper)
        acc = max(getattr(w, '_accumulative_counts', 1) for w in wrappers)
        total = math.ceil(runner.max_iters / acc)
        for b in backbones:
            if b.peft_cfg.get('total_step') is None:
                b.set_total_step(total)
        adapter_ids = {
            id(p)
            for b in backbones
            for n, p in b.named_parameters() if 'lora_' in n
        }
        optimizer = next((w.optimizer for w in wrappers if any(
            id(p) in adapter_ids for g in w.optimizer.param_groups
            for p in g['params'])), None)
        if optimizer is None:
            raise ValueError('PEFTHook: no optimizer holds the AdaLoRA '
                             'adapter parameters (key `optim_wrapper`)')

        def pre_step(opt, args, kwargs):
            reg = [b.add_orthogonal_regularization_grad_() for b in backbones]
            runner.message_hub.update_scalar('train/adalora_orth_reg',
                                             sum(reg) / len(reg))

        def post_step(opt, args, kwargs):
            step = runner.iter // acc
            for b in backbones:
                b.update_and_allocate(step)
            runner.message_hub.update_scalar(
                'train/adalora_rank',
                sum(sum(b.adalora_ranks().values()) for b in backbones))

        self._handles = [
            optimizer.register_step_pre_hook(pre_step),
            optimizer.register_step_post_hook(post_step)
        ]
        print_log(
            f'PEFTHook: AdaLoRA rank allocation over {total} optimizer '
            f'steps (tinit={backbones[0].adalora_config.tinit}, tfinal='
            f'{backbones[0].adalora_config.tfinal}, deltaT='
            f'{backbones[0].adalora_config.deltaT})',
            logger='current')

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for b in self._adalora(runner):
            ranks = b.adalora_ranks()
            print_log(
                f'PEFTHook: AdaLoRA final rank {sum(ranks.values())} over '
                f'{len(ranks)} matrices, effective backbone DSP '
                f'{b.num_effective_dsp_params():,}' +
                (f', ranks {ranks}' if self.log_ranks else ''),
                logger='current')

    # checkpoints ---------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.dsp is not None:
            checkpoint.setdefault('meta', {})[DSP_KEY] = self.dsp

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Move a legacy ``checkpoint['adalora']`` (one state, written from
        the first AdaLoRA backbone) into ``checkpoint['state_dict']`` for
        every AdaLoRA backbone; mmengine loads the model state afterwards.
        Entries the state dict already has win."""
        legacy = checkpoint.pop(LEGACY_ADALORA_KEY, None)
        if legacy is None:
            return
        warnings.warn(
            f"checkpoint['{LEGACY_ADALORA_KEY}'] (PEFTHook's AdaLoRA state) "
            'is deprecated: it is loaded into every AdaLoRA PEFTBackbone; '
            'checkpoints saved now keep it in each backbone\'s state_dict',
            DeprecationWarning)
        state_dict = checkpoint.setdefault('state_dict', {})
        for name, _ in self._named_adalora(self._model(runner)):
            prefix = f'{name}.' if name else ''
            for key, value in state_to_tensors(legacy,
                                               prefix + STATE_PREFIX).items():
                state_dict.setdefault(key, value)
