from .clip_visual import CLIPVisualBackbone

__all__ = ['CLIPVisualBackbone']
