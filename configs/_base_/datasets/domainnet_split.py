# DomainNet with the official split files (standard protocol): source =
# <source>_train.txt, target = <target>_train.txt (unlabeled), evaluation on
# <target>_test.txt. Files as downloaded, lines
# "clipart/aircraft_carrier/clipart_001_000018.jpg 0" relative to data_root:
#   ${data_root}/${split_dir}/<domain>_{train,test}.txt
#   ${data_root}/<domain>/<class>/*.jpg
_base_ = ['./domainnet.py']
split_dir = '.'
image_list = dict(
    type='ImageListDataset', data_root='${data_root}', classes='${classes}')
train_dataloader = dict(
    dataset=dict(
        source=dict(
            _delete_=True,
            **image_list,
            ann_file='${split_dir}/${source_domain}_train.txt',
            pipeline='${train_pipeline}'),
        target=dict(
            _delete_=True,
            **image_list,
            ann_file='${split_dir}/${target_domain}_train.txt',
            pipeline='${train_pipeline}')))
# the official test split is already held out (target_holdout is unused)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **image_list,
        ann_file='${split_dir}/${target_domain}_test.txt',
        pipeline='${test_pipeline}',
        test_mode=True))
test_dataloader = val_dataloader
