# ImageCLEF-DA (b, c, i, p; 12 classes) in either layout, picked by the
# top-level `data_layout` (--cfg-options data_layout=...):
#   'folders'  class-named folders, as the official code needs them
#              (this file's default): ${data_root}/<domain>/<class>/*.jpg
#   'list'     the release as downloaded (image_clef_list.py, the default of
#              the configs/cmkd grid): flat ${data_root}/<domain>/*.jpg and
#              ${data_root}/${list_file} "<path> <label>" lists
# Both give every domain's images whole, for adaptation and evaluation.
_base_ = ['./_folder_uda.py']
data_root = 'data/image_clef'
source_domain = 'i'
target_domain = 'p'
# label order of the official code and of the released list files
classes = [
    'aeroplane', 'bike', 'bird', 'boat', 'bottle', 'bus', 'car', 'dog',
    'horse', 'monitor', 'motorbike', 'people'
]
templates = ['a photo of a {}']

data_layout = 'folders'
# 'list' layout: the list file of a domain ({domain} is filled in), relative
# to data_root. The release has list/<d>List.txt and <d>_list.txt; either
# works (find_by_name below), e.g. --cfg-options 'list_file={domain}_list.txt'
list_file = 'list/{domain}List.txt'
# prefix to strip from listed paths written for another root, e.g.
#   --cfg-options list_strip_prefix=/data/image-clef/
list_strip_prefix = ''
domain_dataset = dict(
    type='DomainDataset',
    layout='${data_layout}',
    list_file='${list_file}',
    # a listed image that is not at its listed path is found by its file
    # name under the domain folder: list/bList.txt and list/cList.txt lines
    # carry a Caltech class folder (c/<class>/113_0114.jpg) while the
    # released images are flat (c/113_0114.jpg); no or several matches is
    # an error naming the list line
    list_options=dict(strip_prefix='${list_strip_prefix}', find_by_name=True))
train_dataloader = dict(
    dataset=dict(source=domain_dataset, target=domain_dataset))
val_dataloader = dict(dataset=domain_dataset)
test_dataloader = val_dataloader
