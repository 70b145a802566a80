import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmvlpuda module so it is registered, and optionally make
    ``mmvlpuda`` the default scope.

    Args:
        init_default_scope (bool): set the default scope to ``mmvlpuda``.
            Defaults to True.
    """
    import mmvlpuda.datasets  # noqa: F401,F403
    import mmvlpuda.engine  # noqa: F401,F403
    import mmvlpuda.evaluation  # noqa: F401,F403
    import mmvlpuda.models  # noqa: F401,F403

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created('mmvlpuda'):
        DefaultScope.get_instance('mmvlpuda', scope_name='mmvlpuda')
    elif current.scope_name != 'mmvlpuda':
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      'not "mmvlpuda"; register_all_modules creates a new '
                      'default scope instance for mmvlpuda.')
        name = f'mmvlpuda-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mmvlpuda')
