from .dlv2_head import DLV2Head, stack_pixel_weights

__all__ = ['DLV2Head', 'stack_pixel_weights']
