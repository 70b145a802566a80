"""Multi-label UDA with CMKD + RST: an example of extending mmvlpuda."""
from .hook import ExportPatchHook
from .model import BinaryPromptHead, MultiLabelCMKD

__all__ = ['BinaryPromptHead', 'MultiLabelCMKD', 'ExportPatchHook']
