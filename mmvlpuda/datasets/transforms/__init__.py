from .rand_augment import CLIP_MEAN_255, TimmRandAugment

__all__ = ['TimmRandAugment', 'CLIP_MEAN_255']
