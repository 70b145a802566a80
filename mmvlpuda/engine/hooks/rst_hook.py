import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmvlpuda.registry import HOOKS, register_deprecated_root_hook
from mmvlpuda.sparse import DSP_KEY, make_patch, model_dsp
from mmvlpuda.sparse.checkpoint import RST_KEY, decode_w0, encode_w0
from mmvlpuda.sparse.projection import FusedProjection

MODES = ('threshold', 'budget', 'topk', 'bias')
RAMPS = ('cubic', 'linear')


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
      ``tau_end`` over ``max_iters`` (segmentation appendix). A weight
      survives only if it is further than τ from w0 right after a step, so
      the DSP it gives depends on the learning rate and the optimizer.
    * ``'budget'``: the user states the DSP they can afford: at most
      ``density`` × (number of selected weights) differ from w0 after every
      step — the largest ``|w - w0|`` survive (τ of Eq. 17 is chosen per
      step as the (k+1)-th largest change, exact in O(n), no sort). The
      allowed density ramps from ``density_start`` down to ``density``
      over the first ``ramp_ratio`` of training (``'cubic'``: fast at first
      as gradual magnitude pruning, or ``'linear'``), then stays at the
      budget; ``density_start=density`` holds the budget from the first
      step. Independent of the learning rate, SGD or Adam(W).
    * ``'topk'``: appendix M: keep the ``r`` % largest changes, ``r``
      decaying linearly from ``topk_start`` to ``topk_end`` over the whole
      run (= ``'budget'`` with a linear ramp over all iterations).
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
        mode (str): ``'threshold'``, ``'budget'``, ``'topk'`` or
            ``'bias'``. Defaults to 'threshold'.
        include (Sequence[str]): parameter-name prefixes (of the unwrapped
            model) to sparsify. Defaults to ``('backbone',)``.
        exclude (Sequence[str]): prefixes removed from the selection.
            Defaults to ().
        reset_momentum (bool): also zero the optimizer momentum
            (``momentum_buffer``/``exp_avg``) of weights snapped back, so
            they do not drift again on stale momentum. The official code
            does not. Defaults to False.
        density (float, optional): ``'budget'`` mode: the fraction of the
            selected weights allowed to differ from w0 at the end of the
            ramp, in (0, 1]. Required for that mode.
        density_start (float): ``'budget'`` mode: the allowed fraction at
            the first step. Defaults to 1.0 (start dense).
        ramp_ratio (float): ``'budget'`` mode: fraction of ``max_iters``
            after which the budget is reached. Defaults to 0.5.
        ramp (str): ``'cubic'`` or ``'linear'`` shape of the density ramp.
            Defaults to 'cubic'.
        topk_start (float): ``'topk'`` mode: ``r`` at the start, in %.
            Defaults to 100.
        topk_end (float): ``'topk'`` mode: ``r`` at the end, in %.
            Defaults to 0.2.

    Example:
        >>> custom_imports = dict(imports=['mmvlpuda'])
        >>> custom_hooks = [dict(type='RSTHook', tau=1e-6)]
        >>> # a patch of at most 1 % of the backbone, whatever the lr
        >>> custom_hooks = [dict(type='RSTHook', mode='budget',
        ...                      density=0.01)]
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
                 density: Optional[float] = None,
                 density_start: float = 1.,
                 ramp_ratio: float = 0.5,
                 ramp: str = 'cubic',
                 topk_start: float = 100.,
                 topk_end: float = 0.2):
        if mode not in MODES:
            raise ValueError(f"RSTHook mode must be one of {MODES}, got "
                             f"'{mode}' (key `mode`)")
        if tau < 0 or (tau_end is not None and tau_end < 0):
            raise ValueError('RSTHook needs tau >= 0 and tau_end >= 0')
        if not 0 < topk_end <= topk_start <= 100:
            raise ValueError('RSTHook needs 0 < topk_end <= topk_start <= 100')
        if mode == 'budget':
            if density is None or not 0 < density <= density_start <= 1:
                raise ValueError(
                    "RSTHook mode='budget' needs 0 < density <= "
                    f'density_start <= 1 (keys `density`, `density_start`), '
                    f'got density={density}, density_start={density_start}')
            if not 0 <= ramp_ratio <= 1 or ramp not in RAMPS:
                raise ValueError(
                    f'RSTHook needs 0 <= ramp_ratio <= 1 and ramp in {RAMPS}'
                    f" (keys `ramp_ratio`, `ramp`), got {ramp_ratio}, '{ramp}'"
                )
        elif density is not None:
            raise ValueError(f"RSTHook `density` needs mode='budget' (got "
                             f"mode='{mode}')")
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
        if mode == 'topk':  # appendix M: linear over the whole run
            density, density_start = topk_end / 100., topk_start / 100.
            ramp_ratio, ramp = 1., 'linear'
        self.density = density
        self.density_start = density_start
        self.ramp_ratio = ramp_ratio
        self.ramp = ramp
        self._projection: Optional[FusedProjection] = None
        self._entries: List[Tuple[str, torch.nn.Parameter, torch.Tensor]] = []
        self._dense: List[str] = []
        self._buffer_w0: Dict[str, torch.Tensor] = {}
        self._w0_from_ckpt: Optional[Dict[str, torch.Tensor]] = None
        self.nnz = 0
        self.progress = 0.
        self.last_tau = 0.  # budget mode: the threshold of the last step

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
        # w0 is copied once, into the projection's flat buffers
        self._projection = FusedProjection(
            [p for _, p in selected],
            [w0[n] if n in w0 else p.detach() for n, p in selected])
        self._entries = [(n, p, base)
                         for (n,
                              p), base in zip(selected, self._projection.w0s)]
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
        numel = self._projection.numel
        print_log(
            f'RSTHook: {len(self._entries)} tensors ({numel / 1e6:.2f}M '
            f'params) sparsified, mode={self.mode}, ' + self._describe() +
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
    def _describe(self) -> str:
        if self.density is None:
            return f'tau={self.tau}' + (f'->{self.tau_end}'
                                        if self.tau_end is not None else '')
        return (f'density={self.density_start:g}->{self.density:g} '
                f'({self.ramp} over {self.ramp_ratio:g} of the run)')

    def _info(self) -> dict:
        """What the patch metadata records about the projection."""
        if self.density is None:
            return dict(tau=self.current_tau(), mode=self.mode)
        return dict(
            tau=self.last_tau, mode=self.mode, density=self.current_density())

    def current_tau(self) -> float:
        if self.tau_end is None:
            return self.tau
        return self.tau + (self.tau_end - self.tau) * self.progress

    def current_density(self) -> float:
        """Allowed fraction of changed weights at the current progress:
        ``density_start`` ramping to ``density`` over ``ramp_ratio`` of the
        run (``'cubic'``: d + (d0 - d)(1 - t)^3, Zhu & Gupta 2017)."""
        t = 1. if self.ramp_ratio == 0 else min(
            self.progress / self.ramp_ratio, 1.)
        start, end = self.density_start, self.density
        if self.ramp == 'linear':
            return start + (end - start) * t
        return end + (start - end) * (1. - t)**3

    def budget(self) -> int:
        """Number of selected weights allowed to differ from w0 now."""
        return int(
            math.floor(self.current_density() * self._projection.numel + 1e-6))

    def _momenta(self, runner) -> Dict[torch.nn.Parameter, torch.Tensor]:
        bufs = {}
        for wrapper in _optim_wrappers(runner.optim_wrapper):
            for param, state in wrapper.optimizer.state.items():
                buf = state.get('momentum_buffer', state.get('exp_avg'))
                if isinstance(buf, torch.Tensor):
                    bufs[param] = buf
        return bufs

    def project(self, momenta: Optional[dict] = None) -> int:
        """Apply the projection once; returns the number of kept entries."""
        momenta = momenta or {}
        bufs = [momenta.get(p) for _, p, _ in self._entries]
        if self.density is not None:
            kept, tau = self._projection.project_to_budget(self.budget(), bufs)
            self.last_tau = max(tau, 0.)
            return kept
        tau = self.current_tau()
        taus = [
            math.inf
            if self.mode == 'bias' and not name.endswith('bias') else tau
            for name, _, _ in self._entries
        ]
        return self._projection.project(taus, bufs)

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
        if self._projection.non_finite:
            raise FloatingPointError(
                f'RSTHook: selected weight `{self._first_non_finite()}` '
                f'became non-finite at iteration {runner.iter + 1} '
                f'({self._projection.non_finite} NaN/Inf entries); stopping '
                'before a checkpoint is written from this state')
        runner.message_hub.update_scalar(
            'train/rst_density', self.nnz / max(self._projection.numel, 1))

    def _first_non_finite(self) -> str:
        return next((name for name, p, _ in self._entries
                     if not bool(torch.isfinite(p).all())), '?')

    # DSP, patches and checkpoints ----------------------------------------
    def _count_nnz(self) -> int:
        return self._projection.count_changed()

    def dsp(self, runner) -> int:
        """Domain-specific parameters (:func:`model_dsp`): residual nonzeros
        of the selected tensors + the dense trainable parameters (e.g. the
        task head), paper Sec. IV-A."""
        return model_dsp(
            self._model(runner), self._count_nnz(),
            {name
             for name, _, _ in self._entries})

    def make_patch(self, runner, **meta):
        """The deployable sparse patch of the current model."""
        base = self._base_state_dict()
        return make_patch(
            self._model(runner),
            base,
            names=list(base),
            dense=self._dense,
            **self._info(),
            **meta)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if not self._entries:
            return
        patch = self.make_patch(runner)
        runner.message_hub.update_scalar(f'val/{DSP_KEY}', self.dsp(runner))
        runner.message_hub.update_scalar('val/rst_patch_MB',
                                         patch.num_bytes / 2**20)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self._entries:
            return
        state = self._model(runner).state_dict(keep_vars=True)
        checkpoint[RST_KEY] = encode_w0(
            state, self._base_state_dict(), dense=self._dense, **self._info())
        meta = checkpoint.setdefault('meta', {})
        meta[DSP_KEY] = self.dsp(runner)
        meta['rst'] = dict(nnz=self._count_nnz(), **self._info())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from: the loaded weights are the new w0
        if RST_KEY in checkpoint:
            self._w0_from_ckpt = decode_w0(checkpoint)
        else:
            print_log(
                'RSTHook: the resumed checkpoint has no RST w0; the resumed '
                'weights become w0',
                logger='current',
                level=30)


# bare type='RSTHook' under another default scope: deprecated alias
register_deprecated_root_hook(RSTHook)
