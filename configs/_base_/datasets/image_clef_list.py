# ImageCLEF-DA as released: flat images ${data_root}/<domain>/*.jpg and list
# files ${data_root}/list/<domain>List.txt ("c/113_0114.jpg 2" per line,
# labels in the order of `classes`). Lists written for another root (e.g.
# "data/imageCLEF/c/113_0114.jpg 2") need
#   --cfg-options list_strip_prefix=data/imageCLEF/
_base_ = ['./image_clef.py']
list_strip_prefix = ''
image_list = dict(
    type='ImageListDataset',
    data_root='${data_root}',
    classes='${classes}',
    strip_prefix='${list_strip_prefix}')
train_dataloader = dict(
    dataset=dict(
        source=dict(
            _delete_=True,
            **image_list,
            ann_file='list/${source_domain}List.txt',
            pipeline='${train_pipeline}'),
        target=dict(
            _delete_=True,
            **image_list,
            ann_file='list/${target_domain}List.txt',
            pipeline='${train_pipeline}',
            holdout=dict(
                ratio='${target_holdout}',
                seed='${target_holdout_seed}',
                part='train'))))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **image_list,
        ann_file='list/${target_domain}List.txt',
        pipeline='${test_pipeline}',
        test_mode=True,
        holdout=dict(
            ratio='${target_holdout}',
            seed='${target_holdout_seed}',
            part='test')))
test_dataloader = val_dataloader
