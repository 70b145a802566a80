# ImageCLEF-DA (12 classes; upstream configs/image_clef.yaml): 10k
# iterations, evaluation every 500, batch 32 + 32, lambda 0.25/0.1/0.025,
# FixMatch 0.5/0.95, prompt "a photo of a {}" (all defaults). Class-named
# folders; for the released flat images + list files, base a config on
# ../../_base_/datasets/image_clef_list.py instead.
_base_ = ['./clip_cmkd.py', '../../_base_/datasets/image_clef.py']
