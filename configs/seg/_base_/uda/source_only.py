# No adaptation: the plain mmseg segmentor of a model base (../models/)
# trained on the labeled source only.
model = '${segmentor}'
