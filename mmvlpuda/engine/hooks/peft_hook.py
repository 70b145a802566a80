import math
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmvlpuda.models.backbones.peft_backbone import PEFTBackbone
from mmvlpuda.registry import HOOKS

ADALORA_KEY = 'adalora'  # checkpoint entry of the AdaLoRA allocator state


def _optim_wrappers(optim_wrapper) -> list:
    inner = getattr(optim_wrapper, 'optim_wrappers', None)
    return list(inner.values()) if inner is not None else [optim_wrapper]


@HOOKS.register_module()
class PEFTHook(Hook):
    """Training-time side of :class:`PEFTBackbone` (paper Table VII).

    * ``before_train``: logs the domain-specific parameters
      (DSP = trainable/added backbone parameters + trainable parameters
      outside the backbone, i.e. the task head), stores them in the message
      hub (``dsp``) and in ``checkpoint['meta']['dsp']``.
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
      (``train/adalora_rank``) are logged; the allocator state goes into
      ``checkpoint['adalora']`` for ``--resume``.

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
        self._resumed_state: Optional[dict] = None

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    @staticmethod
    def _peft_backbones(model) -> List[PEFTBackbone]:
        return [m for m in model.modules() if isinstance(m, PEFTBackbone)]

    def _adalora(self, runner) -> List[PEFTBackbone]:
        return [
            b for b in self._peft_backbones(self._model(runner))
            if b.method == 'adalora'
        ]

    # DSP -----------------------------------------------------------------
    def count_dsp(self, runner) -> dict:
        """``dict(total, backbone, other)`` trainable/added parameters."""
        model = self._model(runner)
        backbones = self._peft_backbones(model)
        inside = {id(p) for b in backbones for p in b.parameters()}
        backbone = sum(b.num_dsp_params() for b in backbones)
        other = sum(p.numel() for p in model.parameters()
                    if p.requires_grad and id(p) not in inside)
        return dict(total=backbone + other, backbone=backbone, other=other)

    def before_train(self, runner) -> None:
        model = self._model(runner)
        dsp = self.count_dsp(runner)
        self.dsp = dsp['total']
        methods = sorted({b.method for b in self._peft_backbones(model)})
        runner.message_hub.update_info('dsp', dsp['total'])
        print_log(
            f"PEFTHook: method={','.join(methods) or 'none'} DSP "
            f"{dsp['total']:,} ({dsp['total'] / 1e6:.4f}M) = backbone "
            f"{dsp['backbone']:,} + head/other {dsp['other']:,}",
            logger='current')
        self._attach_adalora(runner)

    # AdaLoRA -------------------------------------------------------------
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
            if self._resumed_state is not None:
                b.load_adalora_state(self._resumed_state)
            b.allocator_attached = True
        self._resumed_state = None
        adapter_ids = {
            id(p)
            for b in backbones for n, p in b.named_parameters()
            if 'lora_' in n
        }
        optimizer = next(
            (w.optimizer for w in wrappers
             if any(id(p) in adapter_ids for g in w.optimizer.param_groups
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
            b.allocator_attached = False
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
            checkpoint.setdefault('meta', {})['dsp'] = self.dsp
        backbones = self._adalora(runner)
        if backbones:
            checkpoint[ADALORA_KEY] = backbones[0].adalora_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False) and ADALORA_KEY in checkpoint:
            self._resumed_state = checkpoint[ADALORA_KEY]
