from .imagenet_prototype_head import ImageNetPrototypeHead
from .task_head import TaskHead
from .text_zero_shot_head import TextZeroShotHead, format_prompts

__all__ = [
    'ImageNetPrototypeHead', 'TaskHead', 'TextZeroShotHead', 'format_prompts'
]
