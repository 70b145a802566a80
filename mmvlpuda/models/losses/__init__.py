from .cmkd_loss import (CMKDLoss, batch_gini_impurity, confidence_coefficient,
                        gini_impurity, mixed_distribution, ramp_weight,
                        select_classes)

__all__ = [
    'CMKDLoss', 'gini_impurity', 'batch_gini_impurity', 'mixed_distribution',
    'confidence_coefficient', 'ramp_weight', 'select_classes'
]
from .fixmatch_loss import (FixMatchLoss, masked_cross_entropy,  # noqa: E402
                            pseudo_labels)

__all__ += ['FixMatchLoss', 'pseudo_labels', 'masked_cross_entropy']
