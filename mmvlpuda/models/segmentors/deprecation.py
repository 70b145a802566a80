"""Renamed constructor arguments that old configs may still use."""
import functools
import warnings
from typing import Callable


def renamed_args(**renames: str) -> Callable:
    """Decorator of ``__init__``: each old keyword argument (key of
    ``renames``) is passed on under its new name (value) with a
    ``DeprecationWarning``; passing both is a one-line ``TypeError``.

    Example:
        >>> class DACS(BaseModel):
        ...     @renamed_args(alpha='ema_momentum')
        ...     def __init__(self, model, ema_momentum=0.999): ...
        >>> DACS(model, alpha=0.99)  # warns: use `ema_momentum`
    """

    def decorate(init: Callable) -> Callable:

        @functools.wraps(init)
        def wrapper(self, *args, **kwargs):
            owner = type(self).__name__
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f'{owner}: got both `{new}` and its '
                                    f'deprecated name `{old}`; keep `{new}`')
                warnings.warn(
                    f'{owner}: `{old}` is deprecated, use `{new}`',
                    DeprecationWarning,
                    stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return init(self, *args, **kwargs)

        return wrapper

    return decorate
