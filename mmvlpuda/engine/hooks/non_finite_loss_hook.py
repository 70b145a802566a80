"""Stop training at the first non-finite loss (fail fast, lose nothing)."""
import logging
import math
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from mmvlpuda.registry import HOOKS, register_deprecated_root_hook


class NonFiniteError(FloatingPointError):
    """Training stopped on NaN/Inf; the message is one line naming the
    iteration and what was non-finite (``tools/train.py`` exits with it,
    status 1)."""


class NonFiniteLossError(NonFiniteError):
    """A loss term became NaN or Inf (named in the message)."""


class NonFiniteWeightError(NonFiniteError):
    """A weight became NaN or Inf: found when a checkpoint was about to be
    saved, or when the forward/backward pass failed on it (e.g. the
    Hungarian matching of Mask2Former raises on NaN predictions before any
    loss exists)."""


def _loss_terms(log_vars) -> List[Tuple[str, object]]:
    """The entries of a ``log_vars`` dict that are losses: by mmengine's
    convention (``BaseModel.parse_losses``) every key containing ``loss`` is
    summed into the total, which is logged as ``loss``."""
    if not isinstance(log_vars, dict):
        return []
    return [(k, v) for k, v in log_vars.items()
            if 'loss' in k and isinstance(v, (torch.Tensor, float, int))]


def _as_float_tensor(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().float()
    return torch.tensor(float(value))


def _log_to_file(runner, message: str) -> None:
    """Record the error in the run's log file only: on the console it is the
    one line ``tools/train.py`` exits with (or the exception's message)."""
    logger = runner.logger
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        __file__,
        0,
        message,
        None,
        None,
        func='NonFiniteLossHook')
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _last_saved(runner, saving: bool = False) -> Optional[str]:
    """The last checkpoint written: the message hub's ``last_ckpt`` (kept
    across resume); during a save it already names the save in progress, so
    then the work dir's ``last_checkpoint`` file (written after each save)
    is used."""
    if not saving:
        return runner.message_hub.get_info('last_ckpt')
    pointer = osp.join(runner.work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            return f.read().strip() or None
    return None


def _first_non_finite(state) -> Optional[Tuple[str, int, int]]:
    """``(name, non-finite count, numel)`` of the first floating-point
    tensor of ``state`` holding NaN/Inf (one sync per device), else None."""
    by_device: Dict[torch.device, List[str]] = {}
    for name, t in state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel():
            by_device.setdefault(t.device, []).append(name)
    for names in by_device.values():
        finite = torch.stack(
            [torch.isfinite(state[n].detach()).all() for n in names])
        if not bool(finite.all()):
            name = names[int((~finite).nonzero()[0])]
            t = state[name].detach()
            return name, int((~torch.isfinite(t)).sum()), t.numel()
    return None


def _fmt(value: float) -> str:
    return 'nan' if math.isnan(value) else ('inf' if value > 0 else '-inf')


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop the run as soon as a loss term is NaN or Inf.

    The check sits in ``model.parse_losses`` (the step between the forward
    pass and ``optim_wrapper.update_params`` in mmengine's ``train_step``,
    used by every mmvlpuda, mmseg and mmpretrain model), so a bad iteration
    stops *before* its backward pass and optimizer step: the weights keep
    their last finite values, no checkpoint is written from the bad state and
    the checkpoints already saved are kept. The error is one line::

        non-finite loss at iteration 2: loss_task=nan, loss_cmkd=nan (total
        loss=nan); training stopped before this iteration's optimizer step;
        last checkpoint: none saved yet

    It is written to the run's log file and raised as
    :class:`NonFiniteLossError`; ``tools/train.py`` prints it as its last
    line and exits with status 1, without a traceback.

    Models whose ``train_step`` does not call ``parse_losses`` are checked
    on their ``train_step`` outputs in ``after_train_iter`` (this hook runs
    before ``CheckpointHook``), i.e. after the step but before any save.
    With ``interval > 1``, the iterations in between are not checked, but
    the last iteration's losses are always checked before a checkpoint is
    saved.

    Weights: a finite loss can still end in NaN/Inf weights (an overflowing
    step). Before each checkpoint is written its ``state_dict`` is checked
    (:class:`NonFiniteWeightError` naming the tensor, nothing saved), and a
    forward/backward pass that raises while the model holds NaN/Inf weights
    (e.g. Mask2Former's Hungarian matching: ``matrix contains invalid
    numeric entries``) is reported the same way instead of as that
    traceback.

    Under distributed training the flag is all-reduced (a single number per
    checked iteration), so every rank stops at the same iteration.

    Args:
        interval (int): check every ``interval`` iterations (one GPU sync
            each; 1 = every iteration). ``0`` or ``None`` switches the hook
            off. Defaults to 1.

    Examples:
        >>> # part of every mmvlpuda runtime (configs/_base_/*runtime.py):
        >>> default_hooks = dict(
        ...     check_loss=dict(type='mmvlpuda.NonFiniteLossHook', interval=1))
        >>> # off: --cfg-options default_hooks.check_loss.interval=0
    """
    priority = 'VERY_HIGH'  # after_train_iter before RST, logging, saving

    def __init__(self, interval: Optional[int] = 1):
        if interval is not None and (not isinstance(interval, int)
                                     or interval < 0):
            raise ValueError('NonFiniteLossHook: interval must be an int '
                             f'>= 0 (0/None: off), got {interval!r}')
        self.interval = interval or 0
        self._installed = []
        self._checked_iter = None  # iteration whose losses were checked
        self._last_outputs = None
        self._last_iter = None

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    # installing the checks into parse_losses and train_step --------------
    def before_train(self, runner) -> None:
        if not self.enabled:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        hook = self
        self._installed = []
        parse = getattr(model, 'parse_losses', None)
        if parse is not None and not getattr(parse, '_non_finite_check',
                                             False):

            def parse_losses(losses):
                loss, log_vars = parse(losses)
                if hook._due(runner):
                    hook._check(runner, runner.iter, log_vars, stepped=False)
                return loss, log_vars

            self._install(model, 'parse_losses', parse_losses)
        step = runner.model.train_step
        if not getattr(step, '_non_finite_check', False):

            def train_step(*args, **kwargs):
                try:
                    return step(*args, **kwargs)
                except NonFiniteError:
                    raise
                except Exception as e:
                    # NaN weights can break a forward before any loss exists
                    hook._check_weights(
                        runner, runner.iter, model.state_dict(), failure=e)
                    raise

            self._install(runner.model, 'train_step', train_step)

    def _install(self, obj, name: str, fn) -> None:
        fn._non_finite_check = True
        setattr(obj, name, fn)
        self._installed.append((obj, name))

    def _uninstall(self) -> None:
        for obj, name in getattr(self, '_installed', []):
            if getattr(obj.__dict__.get(name), '_non_finite_check', False):
                delattr(obj, name)  # back to the class method
        self._installed = []

    def after_train(self, runner) -> None:
        self._uninstall()

    # fallbacks: models without parse_losses, and before every save -------
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if not self.enabled:
            return
        self._last_outputs, self._last_iter = outputs, runner.iter
        if self._checked_iter != runner.iter and self._due(runner):
            self._check(runner, runner.iter, outputs, stepped=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.enabled:
            return
        # rank 0 only (save_checkpoint is master_only): no collective
        if (self._last_iter is not None
                and self._checked_iter != self._last_iter):
            self._check(
                runner,
                self._last_iter,
                self._last_outputs,
                stepped=True,
                sync=False,
                saving=True)
        it = self._last_iter if self._last_iter is not None else \
            runner.iter - 1
        self._check_weights(runner, it, checkpoint.get('state_dict', {}))

    def _check_weights(self, runner, it: int, state, failure=None) -> None:
        """Raise :class:`NonFiniteWeightError` if a tensor of ``state`` is
        NaN/Inf: before a save, or (``failure``) after a failed step."""
        bad = _first_non_finite(state)
        if bad is None:
            return
        name, count, numel = bad
        head = (f'non-finite weights at {self._where(runner, it)}: `{name}` '
                f'holds {count:,} NaN/Inf value{"s" if count > 1 else ""} '
                f'(of {numel:,})')
        if failure is not None:
            kind = type(failure).__name__
            reason = (str(failure).strip().splitlines() or [''])[0]
            tail = (f'the training step failed on them ({kind}: {reason}); '
                    'training stopped')
        else:
            tail = 'no checkpoint saved from this state'
        last = _last_saved(runner, saving=failure is None)
        message = (f'{head}; {tail}; last checkpoint: '
                   f'{last if last else "none saved yet"}')
        _log_to_file(runner, message)
        self._uninstall()
        raise NonFiniteWeightError(message) from failure

    # the check -------------------------------------------------------------
    def _due(self, runner) -> bool:
        return self.every_n_train_iters(runner, self.interval)

    def _check(self,
               runner,
               it: int,
               log_vars,
               stepped: bool,
               sync: bool = True,
               saving: bool = False) -> None:
        """Raise if a loss term of (0-based) iteration ``it`` is NaN/Inf."""
        self._checked_iter = it
        terms = [(k, _as_float_tensor(v)) for k, v in _loss_terms(log_vars)]
        world_size = get_world_size() if sync else 1
        if not terms and world_size == 1:
            return
        if terms:
            if len({t.device for _, t in terms}) > 1:
                terms = [(k, t.cpu()) for k, t in terms]
            bad_here = torch.stack(
                [~torch.isfinite(t).all() for _, t in terms]).any()
        else:
            bad_here = torch.tensor(False)
        flag = bad_here.float().reshape(1)
        if world_size > 1:  # every rank stops at the same iteration
            all_reduce(flag, op='sum')
        if float(flag.item()) == 0:  # the one GPU sync of a good iteration
            return
        bad_here = bool(bad_here.item())
        message = self._message(runner, it, terms, bad_here, world_size,
                                stepped, saving)
        if bad_here or get_rank() == 0:
            _log_to_file(runner, message)
        self._uninstall()
        raise NonFiniteLossError(message)

    @staticmethod
    def _where(runner, it: int) -> str:
        where = f'iteration {it + 1}'  # 1-based, as in the training log
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1})'
        return where

    def _message(self, runner, it: int, terms, bad_here: bool, world_size: int,
                 stepped: bool, saving: bool) -> str:
        where = self._where(runner, it)
        rank = f' on rank {get_rank()}' if world_size > 1 else ''
        if bad_here:
            # parse_losses gives 0-d means; sum() reduces any other shape
            values: Dict[str, float] = {k: float(t.sum()) for k, t in terms}
            bad = {k: v for k, v in values.items() if not math.isfinite(v)}
            parts = [f'{k}={_fmt(v)}' for k, v in bad.items() if k != 'loss']
            if not parts and 'loss' in bad:  # finite terms, sum overflowed
                what = (f'loss={_fmt(bad["loss"])} (the sum of finite terms '
                        'overflowed)')
            elif not parts:
                what = ', '.join(f'{k}=non-finite' for k, t in terms
                                 if not bool(torch.isfinite(t).all()))
            else:
                what = ', '.join(parts)
                if 'loss' in bad:
                    what += f' (total loss={_fmt(bad["loss"])})'
            head = f'non-finite loss at {where}{rank}: {what}'
        else:
            head = f'non-finite loss at {where} on another rank'
        if stepped:
            tail = ('training stopped before saving a checkpoint from this '
                    'state')
        else:
            tail = "training stopped before this iteration's optimizer step"
        last = _last_saved(runner, saving=saving)
        return (f'{head}; {tail}; last checkpoint: '
                f'{last if last else "none saved yet"}')


# bare type='NonFiniteLossHook' under another default scope: deprecated alias
register_deprecated_root_hook(NonFiniteLossHook)
