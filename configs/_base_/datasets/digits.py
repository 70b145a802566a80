# Digits (MNIST, USPS, SVHN; 10 classes) from the files torchvision writes,
# nothing downloaded at run time (TorchvisionDigitsDataset):
#   ${data_root}/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
#   ${data_root}/usps.bz2, usps.t.bz2
#   ${data_root}/train_32x32.mat, test_32x32.mat
# (${data_root}/<domain>/ is searched too). As upstream: both domains adapt
# on their official train split, evaluation on the target test split.
data_root = 'data/digits'
source_domain = 'svhn'
target_domain = 'mnist'
classes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
templates = ['a photo of the number: "{}"']

# official transforms (upstream §5) on the decoded `img` (no file loading);
# the datasets reference them as '${train_pipeline}' / '${test_pipeline}'.
train_pipeline = [
    dict(
        type='mmpretrain.RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.75, 1.2),
        backend='pillow'),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(224, 224), keep_ratio=False, backend='pillow'),
    dict(type='mmpretrain.PackInputs'),
]
# Upstream's source pipeline of the U->M pair (USPS source only): Resize(28),
# Pad(4) + RandomCrop(28), RandomRotation(10), Resize(224). Select it with
#   --cfg-options source_domain=usps target_domain=mnist \
#       'train_dataloader.dataset.source.pipeline=${usps_source_pipeline}'
usps_source_pipeline = [
    dict(type='Resize', scale=(28, 28), keep_ratio=False, backend='pillow'),
    dict(type='mmpretrain.RandomCrop', crop_size=28, padding=4),
    dict(
        type='mmpretrain.Rotate',
        magnitude_range=(0, 10),  # uniform angle in [-10, 10] degrees
        magnitude_level=10,
        magnitude_std='inf',
        total_level=10,
        prob=1.,
        random_negative_prob=0.5,
        pad_val=0),
    dict(type='Resize', scale=(224, 224), keep_ratio=False, backend='pillow'),
    dict(type='mmpretrain.PackInputs'),
]

digits = dict(type='TorchvisionDigitsDataset', data_root='${data_root}')
train_dataloader = dict(
    batch_size=64,  # 64 source + 64 target images per iteration
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='UDAInfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            **digits,
            domain='${source_domain}',
            split='train',
            pipeline='${train_pipeline}'),
        target=dict(
            **digits,
            domain='${target_domain}',
            split='train',
            pipeline='${train_pipeline}')))
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **digits,
        domain='${target_domain}',
        split='test',
        pipeline='${test_pipeline}',
        test_mode=True))
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
