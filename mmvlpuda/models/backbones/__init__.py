from .clip_visual import CLIPVisualBackbone

__all__ = ['CLIPVisualBackbone']
from .peft_backbone import PEFTBackbone  # noqa: E402

__all__ += ['PEFTBackbone']
from .timm_imagenet import TimmImageNetBackbone  # noqa: E402

__all__ += ['TimmImageNetBackbone']
