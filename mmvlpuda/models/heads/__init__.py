from .task_head import TaskHead
from .text_zero_shot_head import TextZeroShotHead, format_prompts

__all__ = ['TaskHead', 'TextZeroShotHead', 'format_prompts']
