"""Behaviour of ``DomainFolderDataset`` on generated ``root/<domain>/<class>``
image trees."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

import mmvlpuda  # noqa: F401  (registers modules, compat fixes)
from mmengine.registry import init_default_scope
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
    assert {osp.normpath(p) for p in listed} == {
        osp.normpath(p)
        for p in paths['a'] + paths['b']
    }
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
