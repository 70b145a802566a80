# VisDA-2017 classification (12 classes) as released:
#   ${data_root}/train/<class>/*.png       (synthetic, source)
#   ${data_root}/validation/<class>/*.jpg  (real, target)
# (the image_list.txt next to the class folders is ignored). Evaluation on
# the whole validation domain (transductive, as upstream); metric = mean
# per-class accuracy with a per-class table in the log.
_base_ = ['./_folder_uda.py']
data_root = 'data/visda'
source_domain = 'train'
target_domain = 'validation'
classes = [
    'aeroplane', 'bicycle', 'bus', 'car', 'horse', 'knife', 'motorcycle',
    'person', 'plant', 'skateboard', 'train', 'truck'
]
templates = ['a photo of a {}']

# official VisDA transforms: square warp to 224 (+ flip), CenterCrop(224)
# is a no-op and omitted
train_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False, backend='pillow'),
    dict(type='mmpretrain.PackInputs'),
]
val_evaluator = dict(_delete_=True, type='MeanClassAccuracy')
test_evaluator = val_evaluator
