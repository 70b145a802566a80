"""Registries of mmvlpuda (scope ``mmvlpuda``).

Every registry is a child of the matching mmengine root registry, so a config
with ``default_scope='mmvlpuda'`` finds mmvlpuda modules first and falls back
to mmengine/mmcv modules. Modules of other OpenMMLab libraries are reached
with a ``_scope_`` key on their sub-config (for subtrees that build children,
e.g. an mmseg segmentor) or a scope prefix (for leaves, e.g.
``type='mmpretrain.PackInputs'``).
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'METRICS', 'EVALUATOR',
    'VISUALIZERS', 'VISBACKENDS', 'register_deprecated_root_hook'
]

RUNNERS = Registry(
    'runner', parent=MMENGINE_RUNNERS, locations=['mmvlpuda.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMENGINE_RUNNER_CONSTRUCTORS,
    locations=['mmvlpuda.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['mmvlpuda.engine'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, locations=['mmvlpuda.engine.hooks'])
LOG_PROCESSORS = Registry(
    'log processor',
    parent=MMENGINE_LOG_PROCESSORS,
    locations=['mmvlpuda.engine'])
OPTIMIZERS = Registry(
    'optimizer', parent=MMENGINE_OPTIMIZERS, locations=['mmvlpuda.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    locations=['mmvlpuda.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmvlpuda.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    locations=['mmvlpuda.engine.schedulers'])
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, locations=['mmvlpuda.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMENGINE_DATA_SAMPLERS,
    locations=['mmvlpuda.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['mmvlpuda.datasets'])
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, locations=['mmvlpuda.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMENGINE_MODEL_WRAPPERS,
    locations=['mmvlpuda.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMENGINE_WEIGHT_INITIALIZERS,
    locations=['mmvlpuda.models'])
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, locations=['mmvlpuda.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMENGINE_EVALUATOR, locations=['mmvlpuda.evaluation'])
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['mmvlpuda.utils'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, locations=['mmvlpuda.utils'])


def register_deprecated_root_hook(cls: type) -> type:
    """Keep a bare ``type='<Name>'`` working under any default scope, with
    a :class:`DeprecationWarning`.

    Earlier versions registered ``RSTHook`` and ``NonFiniteLossHook`` in
    mmengine's root hook registry so that the bare name resolved in mmseg /
    mmpretrain configs. mmvlpuda hooks now live in mmvlpuda's registry only
    and are written ``type='mmvlpuda.<Name>'`` from any scope; the root
    registry gets this warning subclass instead, so old configs still run
    (under ``default_scope='mmvlpuda'`` the bare name finds the real class).

    Args:
        cls (type): the hook class registered in :data:`HOOKS`.

    Returns:
        type: the deprecated alias registered in mmengine's root registry.
    """
    import warnings

    def __init__(self, *args, **kwargs):
        warnings.warn(
            f"type='{cls.__name__}' outside the mmvlpuda scope is "
            f"deprecated: write type='mmvlpuda.{cls.__name__}'",
            DeprecationWarning,
            stacklevel=2)
        cls.__init__(self, *args, **kwargs)

    alias = type(cls.__name__, (cls, ),
                 dict(__init__=__init__, __module__=cls.__module__))
    MMENGINE_HOOKS.register_module(name=cls.__name__, module=alias)
    return alias
