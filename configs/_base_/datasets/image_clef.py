# ImageCLEF-DA (b, c, i, p; 12 classes), folder layout as the official code
# needs it: ${data_root}/<domain>/<class>/*.jpg with class-named folders.
# For the released flat images + list files use image_clef_list.py.
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
