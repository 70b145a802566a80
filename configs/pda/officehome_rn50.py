# Partial-set DA with CMKD, CLIP RN50, Office-Home 65 -> 25 (paper App. K).
# Source: all 65 classes. Target (training and evaluation): the first 25
# class names in case-sensitive sorted order (official protocol), labels
# still in the 65-class space. PartialSetHook keeps the classes with >= 14
# target predictions after each evaluation (all classes before the first);
# L_cls x 0.5 and the transfer terms x 0.1.
_base_ = '../cmkd/officehome_rn50.py'

# = sorted(classes)[:25]
partial_classes = [
    'Alarm_Clock', 'Backpack', 'Batteries', 'Bed', 'Bike', 'Bottle', 'Bucket',
    'Calculator', 'Calendar', 'Candles', 'Chair', 'Clipboards', 'Computer',
    'Couch', 'Curtains', 'Desk_Lamp', 'Drill', 'Eraser', 'Exit_Sign', 'Fan',
    'File_Cabinet', 'Flipflops', 'Flowers', 'Folder', 'Fork'
]

model = dict(partial_set=dict(cls_weight=0.5, transfer_weight=0.1))
custom_hooks = [dict(type='mmvlpuda.PartialSetHook', threshold=14)]

train_dataloader = dict(
    dataset=dict(
        target=dict(
            _delete_=True,
            type='ClassSubsetDataset',
            classes='${partial_classes}',
            dataset={{_base_.train_dataloader.dataset.target}})))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassSubsetDataset',
        classes='${partial_classes}',
        dataset={{_base_.val_dataloader.dataset}}))
test_dataloader = val_dataloader
