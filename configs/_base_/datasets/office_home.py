# Office-Home (Art, Clipart, Product, Real_World; 65 classes) as released:
#   ${data_root}/<Domain>/<Class>/*.jpg
# Override with --cfg-options data_root=... source_domain=... target_domain=...
data_root = 'data/office_home'
source_domain = 'Art'
target_domain = 'Clipart'
# folder names in the official code's (case-sensitive sorted) label order
classes = [
    'Alarm_Clock', 'Backpack', 'Batteries', 'Bed', 'Bike', 'Bottle', 'Bucket',
    'Calculator', 'Calendar', 'Candles', 'Chair', 'Clipboards', 'Computer',
    'Couch', 'Curtains', 'Desk_Lamp', 'Drill', 'Eraser', 'Exit_Sign', 'Fan',
    'File_Cabinet', 'Flipflops', 'Flowers', 'Folder', 'Fork', 'Glasses',
    'Hammer', 'Helmet', 'Kettle', 'Keyboard', 'Knives', 'Lamp_Shade',
    'Laptop', 'Marker', 'Monitor', 'Mop', 'Mouse', 'Mug', 'Notebook', 'Oven',
    'Pan', 'Paper_Clip', 'Pen', 'Pencil', 'Postit_Notes', 'Printer',
    'Push_Pin', 'Radio', 'Refrigerator', 'Ruler', 'Scissors', 'Screwdriver',
    'Shelf', 'Sink', 'Sneakers', 'Soda', 'Speaker', 'Spoon', 'TV', 'Table',
    'Telephone', 'ToothBrush', 'Toys', 'Trash_Can', 'Webcam'
]
# prompt of the official code for Office-Home
templates = ['an image of a {}']

# official transforms: square warp to 256, random 224 crop, flip / warp 224
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=False),
    dict(type='mmpretrain.RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='mmpretrain.PackInputs'),
]

domain_dataset = dict(
    type='DomainFolderDataset', data_root='${data_root}', classes='${classes}')

train_dataloader = dict(
    batch_size=32,  # 32 source + 32 target images per iteration
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            **domain_dataset,
            domain='${source_domain}',
            pipeline=train_pipeline),
        target=dict(
            **domain_dataset,
            domain='${target_domain}',
            pipeline=train_pipeline)))
# transductive protocol (paper): evaluate on the whole target domain
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **domain_dataset,
        domain='${target_domain}',
        pipeline=test_pipeline,
        test_mode=True))
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
