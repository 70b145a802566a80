"""The training iteration: one clock for every model.

mmengine's loops record the 0-based iteration in the message hub
(``RuntimeInfoHook.before_train_iter``: ``message_hub.update_info('iter',
runner.iter)``) and ``Runner.resume`` restores ``runner.iter``, so a model
that reads the clock here needs no counter of its own in its state dict.
"""
from mmengine.logging import MessageHub


def current_iter() -> int:
    """0-based training iteration from mmengine's message hub (0 outside a
    Runner, before the first iteration).

    Example:
        >>> MessageHub.get_current_instance().update_info('iter', 7)
        >>> current_iter()
        7
    """
    hub = MessageHub.get_current_instance()
    return int(hub.get_info('iter', 0) or 0)
