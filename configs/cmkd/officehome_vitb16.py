# CMKD, Office-Home, CLIP ViT-B/16 (Art -> Clipart; paper: 88.4 avg over
# tasks).
#   python tools/train.py configs/cmkd/officehome_vitb16.py \
#       --cfg-options data_root=data/office_home source_domain=Product
_base_ = ['./_base_/officehome.py', './_base_/vit.py', './_base_/vitb16.py']
