# CMKD, Office-Home, CLIP RN101 (Art -> Clipart; no paper number).
#   python tools/train.py configs/cmkd/officehome_rn101.py \
#       --cfg-options data_root=data/office_home source_domain=Product
_base_ = ['./_base_/officehome.py', './_base_/resnet.py', './_base_/rn101.py']
