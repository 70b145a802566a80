from .clip_visual import CLIPVisualBackbone

__all__ = ['CLIPVisualBackbone']
# moved to mmvlpuda.models.peft; re-exported for backward compatibility
from ..peft import PEFTBackbone  # noqa: E402

__all__ += ['PEFTBackbone']
from .timm_imagenet import TimmImageNetBackbone  # noqa: E402

__all__ += ['TimmImageNetBackbone']
