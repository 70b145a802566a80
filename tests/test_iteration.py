"""The one training clock (mmvlpuda.models.utils.iteration)."""
import pytest
from mmengine.logging import MessageHub

from mmvlpuda.models.utils.iteration import current_iter


@pytest.fixture
def hub(isolated_runner_state):
    return MessageHub.get_instance('test_iteration_clock')


def test_current_iter_reads_the_message_hub(hub):
    assert MessageHub.get_current_instance() is hub
    assert current_iter() == 0  # before a loop sets it
    hub.update_info('iter', 7)
    assert current_iter() == 7
