"""Multi-label UDA with CMKD + RST: an example of extending mmvlpuda."""
from .model import BinaryPromptHead, MultiLabelCMKD

__all__ = ['BinaryPromptHead', 'MultiLabelCMKD']
