from .cmkd_classifier import CMKDClassifier

__all__ = ['CMKDClassifier']
