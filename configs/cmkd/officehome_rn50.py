# CMKD, Office-Home, CLIP RN50 (Art -> Clipart; paper: 79.3 avg over tasks).
#   python tools/train.py configs/cmkd/officehome_rn50.py \
#       --cfg-options data_root=data/office_home source_domain=Product
_base_ = ['./_base_/officehome.py', './_base_/resnet.py', './_base_/rn50.py']
