# Office-31 (amazon, dslr, webcam; 31 classes) as released:
#   ${data_root}/<domain>/images/<class>/*.jpg  (the original archive), or
#   ${data_root}/<domain>/<class>/*.jpg         (flattened, as upstream needs)
# A domain folder holding only `images/` is detected (DomainFolderDataset
# `subdir`). Override with --cfg-options data_root=... source_domain=...
_base_ = ['./_folder_uda.py']
data_root = 'data/office31'
source_domain = 'amazon'
target_domain = 'webcam'
# folder names in the official code's (case-sensitive sorted) label order.
classes = [
    'back_pack', 'bike', 'bike_helmet', 'bookcase', 'bottle', 'calculator',
    'desk_chair', 'desk_lamp', 'desktop_computer', 'file_cabinet',
    'headphones', 'keyboard', 'laptop_computer', 'letter_tray', 'mobile_phone',
    'monitor', 'mouse', 'mug', 'paper_notebook', 'pen', 'phone', 'printer',
    'projector', 'punchers', 'ring_binder', 'ruler', 'scissors', 'speaker',
    'stapler', 'tape_dispenser', 'trash_can'
]
templates = ['a photo of a {}']
# prompt names that differ from the lower-cased folder name: the official
# prompt list (models/backbone.py, upstream.md §9) starts with "backpack"
# for folder `back_pack` (the text head would say "back pack"). Used by
# model.text_head.prompt_names (configs/cmkd/_base_/office31.py).
prompt_names = dict(back_pack='backpack')
