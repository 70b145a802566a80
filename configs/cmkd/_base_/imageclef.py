# ImageCLEF-DA (12 classes; upstream configs/image_clef.yaml): 10k
# iterations, evaluation every 500, batch 32 + 32, lambda 0.25/0.1/0.025,
# FixMatch 0.5/0.95, prompt "a photo of a {}" (all defaults). Data as
# released: flat <domain>/*.jpg images + list/<domain>List.txt (see
# ../../_base_/datasets/image_clef_list.py); class-named folders
# <domain>/<class>/*.jpg (the official code's layout):
#   --cfg-options data_layout=folders
_base_ = ['./clip_cmkd.py', '../../_base_/datasets/image_clef_list.py']
