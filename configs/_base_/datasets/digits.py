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

# official transforms (upstream §5) on the decoded `img` (no file loading).
# Upstream's U->M pair with a USPS source uses instead: Resize(28), Pad(4),
# RandomCrop(28), RandomRotation(10), Resize(224).
train_pipeline = [
    dict(
        type='mmpretrain.RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.75, 1.2)),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='mmpretrain.PackInputs'),
]

digits = dict(type='TorchvisionDigitsDataset', data_root='${data_root}')
train_dataloader = dict(
    batch_size=64,  # 64 source + 64 target images per iteration
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
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
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
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
