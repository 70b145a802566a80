"""Metrics. Classification uses mmpretrain's ``Accuracy``
(``type='mmpretrain.Accuracy'``); benchmark-specific metrics live here."""
