"""Behaviour of ``DomainFolderDataset`` on generated ``root/<domain>/<class>``
image trees."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from PIL import Image

import mmvlpuda  # noqa: F401  (registers modules, compat fixes)
from mmvlpuda.datasets import ImageLoadError
from mmvlpuda.registry import DATASETS

# solid colours (RGB) per class so loaded pixels can be traced to their folder
COLOURS = {
    'a': (230, 20, 20),
    'b': (20, 230, 20),
    'c': (20, 20, 230),
}


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmvlpuda')


def write_image(path, colour=(128, 128, 128), size=(24, 20)):
    """Write a small solid-colour image (``size`` = (width, height))."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    arr = np.empty((size[1], size[0], 3), np.uint8)
    arr[:] = colour
    Image.fromarray(arr).save(path)
    return path


def make_tree(root, domain='Art', counts=None):
    """``root/<domain>/<class>/img<i>.jpg`` with ``counts[class]`` images."""
    counts = counts or {'a': 2, 'b': 3}
    paths = {}
    for name, n in counts.items():
        paths[name] = [
            write_image(
                osp.join(str(root), domain, name, f'img{i}.jpg'),
                COLOURS.get(name, (128, 128, 128))) for i in range(n)
        ]
    return paths


def build(root, domain='Art', classes=('a', 'b'), **kwargs):
    return DATASETS.build(
        dict(
            type='DomainFolderDataset',
            data_root=str(root),
            domain=domain,
            classes=list(classes),
            **kwargs))


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def class_of(path):
    return osp.basename(osp.dirname(path))


def assert_one_line(err):
    msg = str(err)
    assert msg, 'error message is empty'
    assert '\n' not in msg, f'multi-line error message: {msg!r}'


# ---------------------------------------------------------------- listing


def test_lists_every_image_with_its_class_label(tmp_path):
    paths = make_tree(tmp_path, counts={'a': 2, 'b': 3})
    ds = build(tmp_path, classes=['a', 'b'])

    assert len(ds) == 5
    listed = {i['img_path']: i['gt_label'] for i in infos(ds)}
    assert set(listed) == set(paths['a'] + paths['b'])
    assert all(listed[p] == 0 for p in paths['a'])
    assert all(listed[p] == 1 for p in paths['b'])


def test_labels_follow_classes_order_not_folder_sort_order(tmp_path):
    paths = make_tree(tmp_path, counts={'a': 2, 'b': 3})
    ds = build(tmp_path, classes=['b', 'a'])

    assert list(ds.metainfo['classes']) == ['b', 'a']
    listed = {i['img_path']: i['gt_label'] for i in infos(ds)}
    assert {listed[p] for p in paths['b']} == {0}
    assert {listed[p] for p in paths['a']} == {1}
    # label index -> class name is consistent for every sample
    for info in infos(ds):
        assert ds.metainfo['classes'][info['gt_label']] == class_of(
            info['img_path'])


def test_same_tree_with_reversed_classes_flips_labels(tmp_path):
    make_tree(tmp_path, counts={'a': 2, 'b': 2})
    ab = {i['img_path']: i['gt_label'] for i in infos(build(tmp_path))}
    ba = {
        i['img_path']: i['gt_label']
        for i in infos(build(tmp_path, classes=['b', 'a']))
    }
    assert set(ab) == set(ba)
    assert all(ba[p] == 1 - ab[p] for p in ab)


def test_nested_subfolders_inside_a_class_are_included(tmp_path):
    paths = make_tree(tmp_path, counts={'a': 1, 'b': 1})
    deep = write_image(
        osp.join(str(tmp_path), 'Art', 'a', 'sub', 'deeper', 'x.jpg'),
        COLOURS['a'])
    sub_b = write_image(
        osp.join(str(tmp_path), 'Art', 'b', 'sub', 'y.png'), COLOURS['b'])

    ds = build(tmp_path)
    listed = {i['img_path']: i['gt_label'] for i in infos(ds)}
    assert len(ds) == 4
    assert listed[deep] == 0
    assert listed[sub_b] == 1
    assert listed[paths['a'][0]] == 0


def test_non_image_files_are_ignored(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 2})
    class_a = osp.join(str(tmp_path), 'Art', 'a')
    for name in ('notes.txt', 'labels.csv', 'Thumbs.db', 'jpg', '.DS_Store'):
        with open(osp.join(class_a, name), 'w') as f:
            f.write('not an image')
    # a stray file next to the class folders is not a class folder
    with open(osp.join(str(tmp_path), 'Art', 'README.txt'), 'w') as f:
        f.write('readme')

    ds = build(tmp_path)
    assert len(ds) == 3
    exts = {osp.splitext(i['img_path'])[1] for i in infos(ds)}
    assert exts == {'.jpg'}
    # and every listed sample actually loads through a pipeline
    ds = build(
        tmp_path,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='mmpretrain.PackInputs')
        ])
    for i in range(len(ds)):
        assert ds[i]['inputs'].shape == (3, 20, 24)


def test_image_extensions_are_case_insensitive(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 1})
    upper = write_image(
        osp.join(str(tmp_path), 'Art', 'a', 'SHOUT.JPG'), COLOURS['a'])
    png = write_image(
        osp.join(str(tmp_path), 'Art', 'b', 'pic.PNG'), COLOURS['b'])
    jpeg = write_image(
        osp.join(str(tmp_path), 'Art', 'b', 'pic2.jpeg'), COLOURS['b'])

    listed = {i['img_path'] for i in infos(build(tmp_path))}
    assert {upper, png, jpeg} <= listed
    assert len(listed) == 5


def test_empty_domain_uses_class_folders_directly_under_root(tmp_path):
    paths = make_tree(tmp_path, domain='Art', counts={'a': 1, 'b': 2})
    ds = build(osp.join(str(tmp_path), 'Art'), domain='', classes=['b', 'a'])
    listed = {i['img_path']: i['gt_label'] for i in infos(ds)}
    assert len(ds) == 3
    assert {osp.normpath(p)
            for p in listed
            } == {osp.normpath(p)
                  for p in paths['a'] + paths['b']}
    for p, label in listed.items():
        assert label == (0 if class_of(p) == 'b' else 1)


def test_domains_are_separate(tmp_path):
    make_tree(tmp_path, domain='Art', counts={'a': 1, 'b': 1})
    make_tree(tmp_path, domain='Clipart', counts={'a': 3, 'b': 2})
    art, clip = build(tmp_path, 'Art'), build(tmp_path, 'Clipart')
    assert (len(art), len(clip)) == (2, 5)
    assert all(f'{os.sep}Clipart{os.sep}' in i['img_path']
               for i in infos(clip))


# ---------------------------------------------------------------- pipeline


def test_train_pipeline_yields_tensor_and_data_sample(tmp_path):
    make_tree(tmp_path, counts={'a': 2, 'b': 2, 'c': 1})
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='mmpretrain.RandomCrop', crop_size=16),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='mmpretrain.PackInputs'),
    ]
    ds = build(tmp_path, classes=['c', 'b', 'a'], pipeline=pipeline)
    assert len(ds) == 5
    for i in range(len(ds)):
        out = ds[i]
        assert set(out) >= {'inputs', 'data_samples'}
        inputs, sample = out['inputs'], out['data_samples']
        assert isinstance(inputs, torch.Tensor)
        assert inputs.shape == (3, 16, 16)
        assert inputs.dtype == torch.uint8
        label = int(sample.gt_label.item())
        assert label == ds.get_data_info(i)['gt_label']
        assert sample.img_path == ds.get_data_info(i)['img_path']
        name = ['c', 'b', 'a'][label]
        assert class_of(sample.img_path) == name
        # the pixels really are the class' image: BGR order, solid colour
        mean_bgr = inputs.float().mean(dim=(1, 2)).numpy()
        expected_bgr = np.array(COLOURS[name][::-1], np.float32)
        assert np.abs(mean_bgr - expected_bgr).max() < 12


def test_test_pipeline_from_office_home_config(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 1})
    ds = build(
        tmp_path,
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(8, 10), keep_ratio=False),
            dict(type='mmpretrain.PackInputs'),
        ])
    out = ds[1]
    assert out['inputs'].shape == (3, 10, 8)
    assert int(out['data_samples'].gt_label) == 1


# ---------------------------------------------------------------- errors


def test_missing_data_root(tmp_path):
    root = osp.join(str(tmp_path), 'does_not_exist')
    with pytest.raises(FileNotFoundError) as exc:
        build(root)
    assert root in str(exc.value)
    assert_one_line(exc.value)


def test_missing_domain_folder(tmp_path):
    make_tree(tmp_path, domain='Art')
    with pytest.raises(FileNotFoundError) as exc:
        build(tmp_path, domain='Clipart')
    msg = str(exc.value)
    assert osp.join(str(tmp_path), 'Clipart') in msg
    assert 'domain' in msg
    assert_one_line(exc.value)


def test_missing_class_folder(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 1})
    with pytest.raises(FileNotFoundError) as exc:
        build(tmp_path, classes=['a', 'b', 'c'])
    assert osp.join(str(tmp_path), 'Art', 'c') in str(exc.value)
    assert_one_line(exc.value)


def test_folder_not_in_classes(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 1, 'zebra': 1})
    with pytest.raises(ValueError) as exc:
        build(tmp_path, classes=['a', 'b'])
    assert 'zebra' in str(exc.value)
    assert osp.join(str(tmp_path), 'Art', 'zebra') in str(exc.value)
    assert_one_line(exc.value)


def test_class_folders_are_case_sensitive(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'B': 1})
    with pytest.raises((FileNotFoundError, ValueError)) as exc:
        build(tmp_path, classes=['a', 'b'])
    assert_one_line(exc.value)


def test_empty_class_folder(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 1})
    empty = osp.join(str(tmp_path), 'Art', 'c')
    os.makedirs(empty)
    with pytest.raises(ValueError) as exc:
        build(tmp_path, classes=['a', 'b', 'c'])
    assert empty in str(exc.value)
    assert_one_line(exc.value)


def test_class_folder_with_only_non_images_counts_as_empty(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 1})
    only_text = osp.join(str(tmp_path), 'Art', 'b', 'sub')
    # replace b's image by a text file in a sub-folder
    os.remove(osp.join(str(tmp_path), 'Art', 'b', 'img0.jpg'))
    os.makedirs(only_text)
    with open(osp.join(only_text, 'readme.txt'), 'w') as f:
        f.write('no images here')
    with pytest.raises(ValueError) as exc:
        build(tmp_path)
    assert osp.join(str(tmp_path), 'Art', 'b') in str(exc.value)
    assert_one_line(exc.value)


def test_unreadable_image_raises_image_load_error_naming_file(tmp_path):
    make_tree(tmp_path, counts={'a': 2, 'b': 1})
    bad = osp.join(str(tmp_path), 'Art', 'a', 'broken.jpg')
    with open(bad, 'wb') as f:
        f.write(b'\x00\x01garbage, definitely not a JPEG\xff\xd8' * 3)

    ds = build(
        tmp_path,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='mmpretrain.PackInputs')
        ])
    # listing works: the file has an image suffix
    paths = [i['img_path'] for i in infos(ds)]
    assert bad in paths
    bad_idx = paths.index(bad)

    with pytest.raises(ImageLoadError) as exc:
        ds[bad_idx]
    assert bad in str(exc.value)
    assert_one_line(exc.value)
    # the error is a RuntimeError and keeps the original cause
    assert isinstance(exc.value, RuntimeError)
    assert exc.value.__cause__ is not None

    # the other samples are unaffected
    for i in range(len(ds)):
        if i != bad_idx:
            assert ds[i]['inputs'].shape == (3, 20, 24)


def test_unreadable_image_in_test_mode(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 1})
    bad = osp.join(str(tmp_path), 'Art', 'b', 'zzz_broken.png')
    with open(bad, 'wb') as f:
        f.write(b'not a png')
    ds = build(
        tmp_path,
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='mmpretrain.PackInputs')
        ])
    idx = [i['img_path'] for i in infos(ds)].index(bad)
    with pytest.raises(ImageLoadError) as exc:
        ds[idx]
    assert bad in str(exc.value)
    assert_one_line(exc.value)


def test_duplicate_class_names(tmp_path):
    make_tree(tmp_path, counts={'a': 1, 'b': 1})
    with pytest.raises(ValueError) as exc:
        build(tmp_path, classes=['a', 'b', 'a'])
    assert "'a'" in str(exc.value)
    assert 'duplicate' in str(exc.value)
    assert_one_line(exc.value)


def test_empty_classes(tmp_path):
    make_tree(tmp_path, counts={'a': 1})
    with pytest.raises(ValueError) as exc:
        build(tmp_path, classes=[])
    assert '`classes`' in str(exc.value)
    assert_one_line(exc.value)


# ------------------------------------------ Office-31 `images/` level


def make_office31_tree(root, domain='amazon', counts=None):
    """The original Office-31 archive: ``<domain>/images/<class>/*.jpg``."""
    return make_tree(
        osp.join(str(root), domain), domain='images', counts=counts)


def test_office31_images_level_is_detected(tmp_path):
    paths = make_office31_tree(tmp_path, counts={'a': 2, 'b': 1})
    ds = build(tmp_path, domain='amazon')
    listed = {i['img_path']: i['gt_label'] for i in infos(ds)}
    assert set(listed) == set(paths['a'] + paths['b'])
    assert all(f'{os.sep}amazon{os.sep}images{os.sep}' in p for p in listed)
    assert {listed[p] for p in paths['b']} == {1}
    # hidden files (e.g. .DS_Store) next to images/ do not prevent detection
    with open(osp.join(str(tmp_path), 'amazon', '.DS_Store'), 'w') as f:
        f.write('x')
    assert len(build(tmp_path, domain='amazon')) == 3


def test_office31_explicit_subdir(tmp_path):
    make_office31_tree(tmp_path, counts={'a': 1, 'b': 2})
    # a stray file next to images/: no auto-detection, explicit subdir works
    with open(osp.join(str(tmp_path), 'amazon', 'README.txt'), 'w') as f:
        f.write('readme')
    with pytest.raises(FileNotFoundError):
        build(tmp_path, domain='amazon')
    ds = build(tmp_path, domain='amazon', subdir='images')
    assert len(ds) == 3


def test_office31_flattened_layout_still_works(tmp_path):
    make_tree(tmp_path, domain='dslr', counts={'a': 1, 'b': 1})
    assert len(build(tmp_path, domain='dslr')) == 2


def test_empty_subdir_disables_detection(tmp_path):
    make_office31_tree(tmp_path, counts={'a': 1, 'b': 1})
    with pytest.raises(FileNotFoundError) as exc:
        build(tmp_path, domain='amazon', subdir='')
    assert osp.join(str(tmp_path), 'amazon', 'a') in str(exc.value)
    assert_one_line(exc.value)


def test_class_called_images_is_not_mistaken_for_the_extra_level(tmp_path):
    make_tree(tmp_path, domain='d', counts={'images': 2})
    ds = build(tmp_path, domain='d', classes=['images'])
    assert len(ds) == 2
    assert {i['gt_label'] for i in infos(ds)} == {0}


def test_missing_explicit_subdir(tmp_path):
    make_tree(tmp_path, domain='webcam', counts={'a': 1, 'b': 1})
    with pytest.raises(FileNotFoundError) as exc:
        build(tmp_path, domain='webcam', subdir='images')
    msg = str(exc.value)
    assert osp.join(str(tmp_path), 'webcam', 'images') in msg
    assert '`subdir`' in msg
    assert_one_line(exc.value)


def test_office31_bad_class_under_images_level(tmp_path):
    make_office31_tree(tmp_path, counts={'a': 1, 'b': 1, 'zzz': 1})
    with pytest.raises(ValueError) as exc:
        build(tmp_path, domain='amazon')
    assert osp.join(str(tmp_path), 'amazon', 'images', 'zzz') in str(exc.value)
    assert_one_line(exc.value)


# ---------------------------------------- VisDA / DomainNet folder layouts


def test_visda_train_and_validation_folders(tmp_path):
    classes = ['aeroplane', 'bicycle', 'bus']
    for split, n in (('train', 2), ('validation', 1)):
        make_tree(tmp_path, domain=split, counts={c: n for c in classes})
        # the image_list.txt VisDA ships next to the class folders
        with open(osp.join(str(tmp_path), split, 'image_list.txt'), 'w') as f:
            f.write('aeroplane/img0.jpg 0\n')
    src = build(tmp_path, domain='train', classes=classes)
    tgt = build(tmp_path, domain='validation', classes=classes)
    assert (len(src), len(tgt)) == (6, 3)
    for info in infos(tgt):
        assert classes[info['gt_label']] == class_of(info['img_path'])


def test_domainnet_folder_names_with_capitals_and_dashes(tmp_path):
    classes = ['tent', 'The_Eiffel_Tower', 'tiger', 't-shirt']
    make_tree(tmp_path, domain='clipart', counts={c: 1 for c in classes})
    ds = build(tmp_path, domain='clipart', classes=classes)
    # labels follow `classes`, not the case-sensitive folder sort
    assert {
        class_of(i['img_path']): i['gt_label']
        for i in infos(ds)
    } == {
        c: k
        for k, c in enumerate(classes)
    }


# ---------------------------------------------------- held-out split


def holdout(part, ratio=0.25, seed=0):
    return dict(ratio=ratio, seed=seed, part=part)


def test_holdout_parts_are_disjoint_cover_and_stratified(tmp_path):
    make_tree(tmp_path, counts={'a': 8, 'b': 4, 'c': 2})
    classes = ['a', 'b', 'c']
    whole = {
        i['img_path']: i['gt_label']
        for i in infos(build(tmp_path, classes=classes))
    }
    train = {
        i['img_path']: i['gt_label']
        for i in infos(
            build(tmp_path, classes=classes, holdout=holdout('train')))
    }
    test = {
        i['img_path']: i['gt_label']
        for i in infos(
            build(tmp_path, classes=classes, holdout=holdout('test')))
    }
    assert not set(train) & set(test)
    assert {**train, **test} == whole
    # per class: round(0.25 * n) held out, at least one of each side
    per_class = {c: sum(1 for v in test.values() if v == c) for c in range(3)}
    assert per_class == {0: 2, 1: 1, 2: 1}
    assert sorted(set(train.values())) == [0, 1, 2]


def test_holdout_is_deterministic_and_seeded(tmp_path):
    from mmvlpuda.datasets import holdout_indices
    make_tree(tmp_path, counts={'a': 10, 'b': 10})

    def test_part():
        return [
            i['img_path']
            for i in infos(build(tmp_path, holdout=holdout('test', 0.3, 0)))
        ]

    first = test_part()
    assert first == test_part()
    assert len(first) == 6
    labels = [0] * 10 + [1] * 10
    seeds = {
        tuple(holdout_indices(labels, 0.3, seed, 'test'))
        for seed in range(4)
    }
    assert len(seeds) > 1


def test_holdout_ratio_zero_or_none_keeps_everything(tmp_path):
    make_tree(tmp_path, counts={'a': 3, 'b': 2})
    for h in (holdout('test', 0.), holdout('train', 0)):
        assert len(build(tmp_path, holdout=h)) == 5


def test_holdout_with_pipeline_and_labels(tmp_path):
    make_tree(tmp_path, counts={'a': 3, 'b': 3})
    ds = build(
        tmp_path,
        holdout=holdout('test', 0.5),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='mmpretrain.PackInputs')
        ])
    assert len(ds) == 4  # round(0.5 * 3) = 2 per class
    for i in range(len(ds)):
        out = ds[i]
        assert int(out['data_samples'].gt_label) == ['a', 'b'].index(
            class_of(out['data_samples'].img_path))


@pytest.mark.parametrize('bad, key', [
    (dict(ratio=0.2, part='val'), 'holdout.part'),
    (dict(ratio=0.2), 'holdout.part'),
    (dict(ratio=1.0, part='test'), 'holdout.ratio'),
    (dict(ratio=-0.1, part='test'), 'holdout.ratio'),
    (dict(ratio='0.2', part='test'), 'holdout.ratio'),
    (dict(ratio=0.2, part='test', seed=-1), 'holdout.seed'),
    (dict(ratio=0.2, part='test', shuffle=True), 'holdout.shuffle'),
])
def test_bad_holdout_is_a_one_line_error_naming_the_key(tmp_path, bad, key):
    make_tree(tmp_path, counts={'a': 2, 'b': 2})
    with pytest.raises(ValueError) as exc:
        build(tmp_path, holdout=bad)
    assert f'`{key}`' in str(exc.value)
    assert_one_line(exc.value)


def test_holdout_indices_single_sample_class_stays_in_train():
    from mmvlpuda.datasets import holdout_indices
    labels = [0, 0, 0, 0, 1]
    test = holdout_indices(labels, 0.5, 0, 'test')
    train = holdout_indices(labels, 0.5, 0, 'train')
    assert 4 in train and 4 not in test
    assert sorted(test + train) == list(range(5))
    assert len(test) == 2


# ------------------------------------------------- base dataset configs

EXPECTED_CONFIG_CLASSES = {
    'office31': 31,
    'image_clef': 12,
    'image_clef_list': 12,
    'visda': 12,
    'domainnet': 345,
    'domainnet_split': 345,
    'digits': 10,
}


@pytest.mark.parametrize('name', sorted(EXPECTED_CONFIG_CLASSES))
def test_base_dataset_config_loads_with_right_class_count(name):
    from mmvlpuda.utils import load_config
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = load_config(
        osp.join(repo, 'configs', '_base_', 'datasets', f'{name}.py'))
    classes = cfg.classes
    assert len(classes) == EXPECTED_CONFIG_CLASSES[name]
    assert len(set(classes)) == len(classes)
    assert cfg.templates and all('{}' in t for t in cfg.templates)
    for key in ('data_root', 'source_domain', 'target_domain'):
        assert isinstance(cfg[key], str) and cfg[key]
    # every dataset got the real class list (references resolved)
    train = cfg.train_dataloader.dataset
    assert train.type == 'UDADataset'
    for ds in (train.source, train.target, cfg.val_dataloader.dataset,
               cfg.test_dataloader.dataset):
        assert '${' not in repr(ds)
        if 'classes' in ds:
            assert list(ds.classes) == list(classes)
    assert cfg.val_evaluator.type in ('mmpretrain.Accuracy',
                                      'MeanClassAccuracy')


def test_config_class_orders_match_the_official_label_orders():
    from mmvlpuda.utils import load_config
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))

    def classes(name):
        return list(
            load_config(
                osp.join(repo, 'configs', '_base_', 'datasets',
                         f'{name}.py')).classes)

    # ImageFolder order (case-sensitive sort) of the official code
    for name in ('office31', 'image_clef', 'visda'):
        assert classes(name) == sorted(classes(name))
    assert classes('office31')[0] == 'back_pack'
    # DomainNet: official split-file label order
    dn = classes('domainnet')
    assert dn[:3] == ['aircraft_carrier', 'airplane', 'alarm_clock']
    assert dn.index('The_Eiffel_Tower') == 308
    assert dn[319:325] == [
        'tractor', 'traffic_light', 'train', 'tree', 'triangle', 'trombone'
    ]
    assert dn[-1] == 'zigzag'
    assert classes('digits') == [str(i) for i in range(10)]


def test_office31_config_builds_on_the_original_archive_layout(tmp_path):
    from mmvlpuda.utils import load_config
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = load_config(
        osp.join(repo, 'configs', '_base_', 'datasets', 'office31.py'),
        dict(data_root=str(tmp_path)))
    counts = {c: 1 for c in cfg.classes}
    make_office31_tree(tmp_path, 'amazon', counts)
    make_office31_tree(tmp_path, 'webcam', counts)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(val) == 31
    out = train[0]
    assert out['source']['inputs'].shape == (3, 224, 224)
    assert 'gt_label' not in out['target']['data_samples']
    assert val[30]['inputs'].shape == (3, 224, 224)


def test_target_holdout_config_option_splits_target_only(tmp_path):
    from mmvlpuda.utils import load_config
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg_path = osp.join(repo, 'configs', '_base_', 'datasets', 'visda.py')
    classes = list(load_config(cfg_path).classes)
    make_tree(tmp_path, 'train', {c: 2 for c in classes})
    make_tree(tmp_path, 'validation', {c: 5 for c in classes})

    def sizes(**options):
        cfg = load_config(cfg_path, dict(data_root=str(tmp_path), **options))
        assert cfg.train_dataloader.dataset.source.get('holdout') is None
        tgt = DATASETS.build(cfg.train_dataloader.dataset.target)
        val = DATASETS.build(cfg.val_dataloader.dataset)
        val_paths = {i['img_path'] for i in infos(val)}
        tgt_paths = {i['img_path'] for i in infos(tgt)}
        return len(tgt), len(val), tgt_paths & val_paths

    # transductive (default): target train == evaluation set
    n_tgt, n_val, common = sizes()
    assert (n_tgt, n_val, len(common)) == (60, 60, 60)
    # held out: 1 of 5 images per class for evaluation only
    n_tgt, n_val, common = sizes(target_holdout=0.2)
    assert (n_tgt, n_val, common) == (48, 12, set())
