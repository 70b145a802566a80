# Office-Home (65 classes; upstream configs/office_home.yaml): 10k
# iterations, evaluation every 500 (one upstream epoch), batch 32 + 32,
# lambda 0.25/0.1/0.025, FixMatch 0.5/0.95, prompt "an image of a {}" (the
# official code's), all defaults of clip_cmkd.py and the dataset base.
_base_ = ['./clip_cmkd.py', '../../_base_/datasets/office_home.py']
