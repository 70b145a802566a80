from .cmkd_loss import (CMKDLoss, batch_gini_impurity, confidence_coefficient,
                        gini_impurity, mixed_distribution, ramp_weight,
                        select_classes)
from .fixmatch_loss import FixMatchLoss, masked_cross_entropy, pseudo_labels

__all__ = [
    'CMKDLoss', 'gini_impurity', 'batch_gini_impurity', 'mixed_distribution',
    'confidence_coefficient', 'ramp_weight', 'select_classes', 'FixMatchLoss',
    'pseudo_labels', 'masked_cross_entropy'
]
