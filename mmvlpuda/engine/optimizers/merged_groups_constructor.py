from typing import Dict, List

import torch
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from mmvlpuda.registry import OPTIM_WRAPPER_CONSTRUCTORS


def _settings(group: dict) -> tuple:
    """Hashable hyperparameters of a param group (everything but params)."""
    return tuple(
        sorted((k, repr(v)) for k, v in group.items() if k != 'params'))


def merge_param_groups(groups: List[dict]) -> List[dict]:
    """Groups with identical hyperparameters merged into one, in order of
    first appearance; parameters keep their relative order."""
    merged: Dict[tuple, dict] = {}
    for group in groups:
        key = _settings(group)
        if key in merged:
            merged[key]['params'].extend(group['params'])
        else:
            merged[key] = dict(group, params=list(group['params']))
    return list(merged.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MergedGroupsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, then one param group per distinct
    setting.

    With ``paramwise_cfg`` mmengine builds one param group per parameter
    (178 for the CLIP RN50 tower + head), so every optimizer step loops over
    178 groups (measured on CPU: SGD step 46.7 ms vs 34.9 ms with the 2 groups
    of the official ``get_parameters()``: backbone lr, head lr x mult). The
    merged optimizer does the same update: each parameter keeps its lr,
    momentum and weight decay.

    A checkpoint whose optimizer state has a different number of groups (a
    run started with the default constructor) cannot be resumed with it:
    that is a one-line error naming the fix (resume with
    ``optim_wrapper.constructor=DefaultOptimWrapperConstructor``).

    Example:
        >>> optim_wrapper = dict(
        ...     constructor='MergedGroupsOptimWrapperConstructor',
        ...     optimizer=dict(type='SGD', lr=3e-7, momentum=0.9),
        ...     paramwise_cfg=dict(custom_keys={'task_head': dict(
        ...         lr_mult=1e4)}))
    """

    def __call__(self, model: torch.nn.Module) -> OptimWrapper:
        wrapper = super().__call__(model)
        optimizer = wrapper.optimizer
        optimizer.param_groups[:] = merge_param_groups(optimizer.param_groups)
        optimizer.register_load_state_dict_pre_hook(_check_group_count)
        return wrapper


def _check_group_count(optimizer, state_dict):
    saved = len(state_dict['param_groups'])
    if saved != len(optimizer.param_groups):
        raise ValueError(
            f'the checkpoint\'s optimizer state has {saved} param groups, '
            f'the optimizer built with MergedGroupsOptimWrapperConstructor '
            f'has {len(optimizer.param_groups)}: resume it with '
            '--cfg-options optim_wrapper.constructor='
            'DefaultOptimWrapperConstructor')
    return state_dict
