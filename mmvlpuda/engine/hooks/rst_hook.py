import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmvlpuda.registry import HOOKS, ROOT_HOOKS
from mmvlpuda.sparse import make_patch
from mmvlpuda.sparse.checkpoint import RST_KEY, decode_w0, encode_w0
from mmvlpuda.sparse.projection import abs_diff, project_

MODES = ('threshold', 'topk', 'bias')


def _match(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p.rstrip('.') + '.')
               for p in prefixes)


def _optim_wrappers(optim_wrapper) -> list:
    inner = getattr(optim_wrapper, 'optim_wrappers', None)
    return list(inner.values()) if inner is not None else [optim_wrapper]


@HOOKS.register_module()
class RSTHook(Hook):
    r"""Residual Sparse Training, paper Eqs. (15)–(17) and Alg. 1–2.

    After every optimizer step, each selected weight that moved at most τ
    from its pretrained value is reset to it:
    :math:`w \leftarrow w_0` where :math:`|w - w_0| \le \tau`. The model is
    then ``w0 +`` a sparse residual, exported with :mod:`mmvlpuda.sparse`.

    Modes:

    * ``'threshold'``: constant τ, or τ growing linearly from ``tau`` to
      ``tau_end`` over ``max_iters`` (segmentation appendix).
    * ``'topk'``: keep the ``r`` % largest changes, ``r`` decaying linearly
      from ``topk_start`` to ``topk_end`` over training (appendix M).
    * ``'bias'``: RST_bias — only bias tensors train (thresholded by τ);
      every other selected tensor is held at w0.

    w0 is taken in ``before_train``, i.e. after ``init_cfg`` and
    ``load_from`` weights are in place. Checkpoints stay dense (resume
    works as usual); the hook adds ``checkpoint['rst']`` with the w0 values
    at the changed positions only (O(nnz)), from which w0 is rebuilt on
    ``--resume`` and ``tools/export_patch.py`` builds a patch. Only
    selected trainable parameters get a w0 copy (frozen ones never move).

    Args:
        tau (float): τ (start value when ``tau_end`` is set).
            Defaults to 1e-6.
        tau_end (float, optional): final τ of the linear schedule.
            Defaults to None (constant τ).
        mode (str): ``'threshold'``, ``'topk'`` or ``'bias'``.
            Defaults to 'threshold'.
        include (Sequence[str]): parameter-name prefixes (of the unwrapped
            model) to sparsify. Defaults to ``('backbone',)``.
        exclude (Sequence[str]): prefixes removed from the selection.
            Defaults to ().
        reset_momentum (bool): also zero the optimizer momentum
            (``momentum_buffer``/``exp_avg``) of weights snapped back, so
            they do not drift again on stale momentum. The official code
            does not. Defaults to False.
        topk_start (float): ``r`` at the start, in %. Defaults to 100.
        topk_end (float): ``r`` at the end, in %. Defaults to 0.2.

    Example:
        >>> custom_imports = dict(imports=['mmvlpuda'])
        >>> custom_hooks = [dict(type='RSTHook', tau=1e-6)]
        >>> # segmentation: backbone and decoder, scheduled tau
        >>> custom_hooks = [dict(type='RSTHook', tau=2e-6, tau_end=1e-4,
        ...                      include=('backbone', 'decode_head'))]
    """

    priority = 'ABOVE_NORMAL'  # before EMA, logging and checkpointing

    def __init__(self,
                 tau: float = 1e-6,
                 tau_end: Optional[float] = None,
                 mode: str = 'threshold',
                 include: Sequence[str] = ('backbone', ),
                 exclude: Sequence[str] = (),
                 reset_momentum: bool = False,
                 topk_start: float = 100.,
                 topk_end: float = 0.2):
        if mode not in MODES:
            raise ValueError(f"RSTHook mode must be one of {MODES}, got "
                             f"'{mode}' (key `mode`)")
        if tau < 0 or (tau_end is not None and tau_end < 0):
            raise ValueError('RSTHook needs tau >= 0 and tau_end >= 0')
        if not 0 < topk_end <= topk_start <= 100:
            raise ValueError('RSTHook needs 0 < topk_end <= topk_start <= 100')
        if isinstance(include, str) or isinstance(exclude, str):
            raise TypeError('`include`/`exclude` must be sequences of '
                            'prefixes, e.g. include=("backbone",)')
        self.tau = tau
        self.tau_end = tau_end
        self.mode = mode
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.reset_momentum = reset_momentum
        self.topk_start = topk_start
        self.topk_end = topk_end
        self._entries: List[Tuple[str, torch.nn.Parameter, torch.Tensor]] = []
        self._dense: List[str] = []
        self._buffer_w0: Dict[str, torch.Tensor] = {}
        self._w0_from_ckpt: Optional[Dict[str, torch.Tensor]] = None
        self._scratch: Optional[torch.Tensor] = None
        self.nnz = 0
        self.progress = 0.

    # selection and w0 ------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        self.setup(self._model(runner))

    def setup(self, model: torch.nn.Module) -> None:
        """Select the parameters of ``model`` and record their w0 (the
        current values, or those rebuilt from a resumed checkpoint)."""
        selected, self._dense = [], []
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            if _match(name, self.include) and not _match(name, self.exclude):
                selected.append((name, param))
            else:
                self._dense.append(name)
        if not selected:
            raise ValueError(
                f'RSTHook selects no trainable parameter: include='
                f'{self.include}, exclude={self.exclude} (keys `include`/'
                '`exclude`, prefixes of the unwrapped model)')
        w0 = self._w0_from_ckpt or {}
        missing = [n for n, _ in selected if n not in w0]
        if self._w0_from_ckpt is not None and missing:
            raise KeyError(f'resumed checkpoint has no RST w0 for `'
                           f'{missing[0]}` ({len(missing)} missing)')
        self._entries = [(n, p, (w0[n] if n in w0 else p.detach()).to(
            p.device, p.dtype).clone().contiguous()) for n, p in selected]
        # floating-point buffers (BN running statistics) are not projected
        # but belong to the deployed model: patches store what changed
        persistent = model.state_dict(keep_vars=True)
        self._buffer_w0 = {
            n: (w0[n] if n in w0 else b.detach()).to(b.device,
                                                     b.dtype).clone()
            for n, b in model.named_buffers()
            if b.is_floating_point() and n in persistent
        }
        self._w0_from_ckpt = None
        self.nnz = self._count_nnz()
        numel = sum(p.numel() for _, p, _ in self._entries)
        print_log(
            f'RSTHook: {len(self._entries)} tensors ({numel / 1e6:.2f}M '
            f'params) sparsified, mode={self.mode}, tau={self.tau}'
            + (f'->{self.tau_end}' if self.tau_end is not None else '') +
            f', {len(self._dense)} dense trainable tensors',
            logger='current')

    def w0_state_dict(self) -> Dict[str, torch.Tensor]:
        """The pretrained values of the selected tensors."""
        return {name: w0 for name, _, w0 in self._entries}

    def _base_state_dict(self) -> Dict[str, torch.Tensor]:
        """w0 of the selected parameters plus the floating-point buffers at
        the start of training (what a patch is taken against)."""
        return {**self._buffer_w0, **self.w0_state_dict()}

    # the projection -------------------------------------------------------
    def current_tau(self) -> float:
        if self.tau_end is None:
            return self.tau
        return self.tau + (self.tau_end - self.tau) * self.progress

    def current_topk(self) -> float:
        return self.topk_start + (self.topk_end -
                                  self.topk_start) * self.progress

    def _momenta(self, runner) -> Dict[torch.nn.Parameter, torch.Tensor]:
        bufs = {}
        for wrapper in _optim_wrappers(runner.optim_wrapper):
            for param, state in wrapper.optimizer.state.items():
                buf = state.get('momentum_buffer', state.get('exp_avg'))
                if isinstance(buf, torch.Tensor):
                    bufs[param] = buf
        return bufs

    def _topk_threshold(self) -> float:
        numel = sum(p.numel() for _, p, _ in self._entries)
        keep = int(math.ceil(self.current_topk() / 100. * numel))
        if keep >= numel:
            return -1.  # keep everything
        param = self._entries[0][1]
        if self._scratch is None or self._scratch.numel() != numel:
            self._scratch = torch.empty(
                numel, dtype=param.dtype, device=param.device)
        offset = 0
        for _, p, w0 in self._entries:
            abs_diff(p, w0, self._scratch[offset:offset + p.numel()])
            offset += p.numel()
        return float(torch.kthvalue(self._scratch, numel - keep).values)

    def project(self, momenta: Optional[dict] = None) -> int:
        """Apply the projection once; returns the number of kept entries."""
        momenta = momenta or {}
        if self.mode == 'topk':
            tau = self._topk_threshold()
            if tau < 0:
                return self._count_nnz()
        else:
            tau = self.current_tau()
        kept = 0
        for name, p, w0 in self._entries:
            t = tau
            if self.mode == 'bias' and not name.endswith('bias'):
                t = math.inf
            kept += project_(p.data, w0, t, momenta.get(p))
        return kept

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if not any(w.should_update()
                   for w in _optim_wrappers(runner.optim_wrapper)):
            return  # gradient accumulation: no step this iteration
        self.progress = min((runner.iter + 1) / max(runner.max_iters, 1), 1.)
        momenta = self._momenta(runner) if self.reset_momentum else None
        self.nnz = self.project(momenta)
        numel = sum(p.numel() for _, p, _ in self._entries)
        runner.message_hub.update_scalar('train/rst_density',
                                         self.nnz / max(numel, 1))

    # DSP, patches and checkpoints ----------------------------------------
    def _count_nnz(self) -> int:
        return sum(int((p.detach() != w0).sum()) for _, p, w0 in self._entries)

    def dsp(self, runner) -> int:
        """Domain-specific parameters: residual nonzeros + dense trainable
        parameters (e.g. the task head), paper Sec. IV-A."""
        params = dict(self._model(runner).named_parameters())
        return self._count_nnz() + sum(params[n].numel() for n in self._dense)

    def make_patch(self, runner, **meta):
        """The deployable sparse patch of the current model."""
        base = self._base_state_dict()
        return make_patch(
            self._model(runner),
            base,
            names=list(base),
            dense=self._dense,
            tau=self.current_tau(),
            mode=self.mode,
            **meta)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if not self._entries:
            return
        patch = self.make_patch(runner)
        runner.message_hub.update_scalar('val/rst_dsp_M',
                                         self.dsp(runner) / 1e6)
        runner.message_hub.update_scalar('val/rst_patch_MB',
                                         patch.num_bytes / 2**20)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self._entries:
            return
        state = self._model(runner).state_dict(keep_vars=True)
        checkpoint[RST_KEY] = encode_w0(
            state, self._base_state_dict(), dense=self._dense,
            tau=self.current_tau(), mode=self.mode)
        checkpoint.setdefault('meta', {})['rst'] = dict(
            nnz=self._count_nnz(), dsp=self.dsp(runner),
            tau=self.current_tau(), mode=self.mode)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from: the loaded weights are the new w0
        if RST_KEY in checkpoint:
            self._w0_from_ckpt = decode_w0(checkpoint)
        else:
            print_log(
                'RSTHook: the resumed checkpoint has no RST w0; the resumed '
                'weights become w0', logger='current', level=30)


# usable from any OpenMMLab scope (default_scope='mmseg', 'mmpretrain'...)
ROOT_HOOKS.register_module(module=RSTHook)
