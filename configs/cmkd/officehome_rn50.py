# CMKD, CLIP RN50, Office-Home Art -> Clipart (paper Table I: 79.3 avg).
#   python tools/train.py configs/cmkd/officehome_rn50.py \
#       --cfg-options data_root=data/office_home source_domain=Product
_base_ = [
    '../_base_/models/cmkd_clip_rn50.py',
    '../_base_/datasets/office_home.py',
    '../_base_/schedules/sgd_invdecay_10k.py',
    '../_base_/default_runtime.py',
]
