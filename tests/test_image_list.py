"""Behaviour of ``ImageListDataset`` (``<path> <label>`` list files) on
generated ImageCLEF-DA / DomainNet / VisDA style layouts."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

import mmvlpuda  # noqa: F401  (registers modules, compat fixes)
from mmvlpuda.datasets import ImageLoadError
from mmvlpuda.registry import DATASETS
from mmvlpuda.utils import load_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLEF_CLASSES = [
    'aeroplane', 'bike', 'bird', 'boat', 'bottle', 'bus', 'car', 'dog',
    'horse', 'monitor', 'motorbike', 'people'
]
PACK = [dict(type='LoadImageFromFile'), dict(type='mmpretrain.PackInputs')]


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmvlpuda')


def write_image(path, value=128, size=(12, 10)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    arr = np.full((size[1], size[0], 3), value, np.uint8)
    Image.fromarray(arr).save(path)
    return path


def write_list(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def build(**kwargs):
    return DATASETS.build(dict(type='ImageListDataset', **kwargs))


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def assert_one_line(err):
    msg = str(err)
    assert msg, 'error message is empty'
    assert '\n' not in msg, f'multi-line error message: {msg!r}'


def make_clef(root, domain='c', per_class=2):
    """ImageCLEF-DA as released: flat ``<d>/<caltech id>_<n>.jpg`` images and
    ``list/<d>List.txt`` with labels in the 12-class order."""
    lines = []
    for label in range(len(CLEF_CLASSES)):
        for n in range(per_class):
            name = f'{domain}/{100 + label}_{n:04d}.jpg'
            write_image(osp.join(str(root), name), value=10 * label)
            lines.append(f'{name} {label}')
    write_list(osp.join(str(root), 'list', f'{domain}List.txt'), lines)
    return lines


# ---------------------------------------------------------------- listing


def test_imageclef_list_file_layout(tmp_path):
    lines = make_clef(tmp_path, 'c', per_class=2)
    ds = build(
        data_root=str(tmp_path),
        ann_file='list/cList.txt',
        classes=CLEF_CLASSES)
    assert len(ds) == len(lines) == 24
    assert list(ds.metainfo['classes']) == CLEF_CLASSES
    for info, line in zip(infos(ds), lines):
        path, label = line.split()
        assert info['img_path'] == osp.join(str(tmp_path), path)
        assert info['gt_label'] == int(label)


def test_images_load_through_the_pipeline_with_their_label(tmp_path):
    make_clef(tmp_path, 'p', per_class=1)
    ds = build(
        data_root=str(tmp_path),
        ann_file='list/pList.txt',
        classes=CLEF_CLASSES,
        pipeline=PACK)
    for i in range(len(ds)):
        out = ds[i]
        label = int(out['data_samples'].gt_label)
        assert label == i
        assert out['inputs'].shape == (3, 10, 12)
        # the pixels come from the listed file (value 10 * label)
        assert abs(float(out['inputs'].float().mean()) - 10 * label) < 3


def test_labels_index_the_config_classes(tmp_path):
    write_image(osp.join(str(tmp_path), 'x', 'one.jpg'))
    write_image(osp.join(str(tmp_path), 'x', 'two.jpg'))
    write_list(
        osp.join(str(tmp_path), 'l.txt'), ['x/one.jpg 1', 'x/two.jpg 0'])
    ds = build(
        data_root=str(tmp_path), ann_file='l.txt', classes=['cat', 'dog'])
    assert [(osp.basename(i['img_path']), i['gt_label'])
            for i in infos(ds)] == [('one.jpg', 1), ('two.jpg', 0)]


def test_blank_lines_comments_and_spaces_in_paths(tmp_path):
    write_image(osp.join(str(tmp_path), 'my dir', 'a b.jpg'))
    write_image(osp.join(str(tmp_path), 'c.png'))
    write_list(
        osp.join(str(tmp_path), 'l.txt'),
        ['# a comment', '', 'my dir/a b.jpg   1', '   ', 'c.png\t0'])
    ds = build(
        data_root=str(tmp_path),
        ann_file='l.txt',
        classes=['u', 'v'],
        pipeline=PACK)
    assert len(ds) == 2
    assert infos(ds)[0]['img_path'].endswith(osp.join('my dir', 'a b.jpg'))
    assert int(ds[0]['data_samples'].gt_label) == 1


def test_data_prefix_visda_image_list(tmp_path):
    """VisDA's ``train/image_list.txt`` lists paths relative to ``train/``."""
    root = str(tmp_path)
    write_image(osp.join(root, 'train', 'aeroplane', 'src_1.png'))
    write_image(osp.join(root, 'train', 'bus', 'src_2.png'))
    write_list(
        osp.join(root, 'train', 'image_list.txt'),
        ['aeroplane/src_1.png 0', 'bus/src_2.png 2'])
    ds = build(
        data_root=root,
        data_prefix='train',
        ann_file='train/image_list.txt',
        classes=['aeroplane', 'bicycle', 'bus'])
    assert [i['gt_label'] for i in infos(ds)] == [0, 2]
    assert infos(ds)[1]['img_path'] == osp.join(root, 'train', 'bus',
                                                'src_2.png')


def test_strip_prefix_for_lists_written_for_another_root(tmp_path):
    write_image(osp.join(str(tmp_path), 'c', '113_0001.jpg'))
    write_list(
        osp.join(str(tmp_path), 'list', 'c.txt'),
        ['data/imageCLEF/c/113_0001.jpg 2'])
    ds = build(
        data_root=str(tmp_path),
        ann_file='list/c.txt',
        classes=CLEF_CLASSES,
        strip_prefix='data/imageCLEF/')
    assert infos(ds)[0]['img_path'] == osp.join(
        str(tmp_path), 'c', '113_0001.jpg')


def test_holdout_on_a_list(tmp_path):
    make_clef(tmp_path, 'b', per_class=5)
    kw = dict(
        data_root=str(tmp_path),
        ann_file='list/bList.txt',
        classes=CLEF_CLASSES)
    test = infos(build(**kw, holdout=dict(ratio=0.4, seed=3, part='test')))
    train = infos(build(**kw, holdout=dict(ratio=0.4, seed=3, part='train')))
    assert len(test) == 24 and len(train) == 36
    assert not {i['img_path'] for i in test} & {i['img_path'] for i in train}
    assert sorted(i['gt_label'] for i in test) == sorted(list(range(12)) * 2)


# ------------------------------------------------------------ DomainNet


def make_domainnet(root,
                   domains=('clipart', 'sketch'),
                   classes=None,
                   n_train=2,
                   n_test=1):
    """DomainNet as downloaded: ``<d>/<class>/<d>_<NNN>_<id>.jpg`` and the
    official ``<d>_train.txt`` / ``<d>_test.txt`` at the root."""
    classes = classes or ['aircraft_carrier', 'The_Eiffel_Tower', 't-shirt']
    for d in domains:
        split_lines = {'train': [], 'test': []}
        for label, name in enumerate(classes):
            for k in range(n_train + n_test):
                rel = f'{d}/{name}/{d}_{label + 1:03d}_{k:06d}.jpg'
                write_image(osp.join(str(root), rel), value=label % 256)
                split = 'train' if k < n_train else 'test'
                split_lines[split].append(f'{rel} {label}')
        for split, lines in split_lines.items():
            write_list(osp.join(str(root), f'{d}_{split}.txt'), lines)
    return classes


def test_domainnet_split_files(tmp_path):
    classes = make_domainnet(tmp_path)
    kw = dict(data_root=str(tmp_path), classes=classes)
    train = build(ann_file='clipart_train.txt', **kw)
    test = build(ann_file='clipart_test.txt', **kw)
    assert (len(train), len(test)) == (6, 3)
    assert not ({i['img_path']
                 for i in infos(train)}
                & {i['img_path']
                   for i in infos(test)})
    for info in infos(train) + infos(test):
        assert classes[info['gt_label']] == osp.basename(
            osp.dirname(info['img_path']))


def test_domainnet_split_files_and_whole_folders_agree(tmp_path):
    """The folder layout (official code) sees train+test of the split files
    with the same labels."""
    classes = make_domainnet(tmp_path)
    kw = dict(data_root=str(tmp_path), classes=classes)
    listed = {}
    for split in ('train', 'test'):
        for info in infos(build(ann_file=f'sketch_{split}.txt', **kw)):
            listed[info['img_path']] = info['gt_label']
    folder = DATASETS.build(
        dict(type='DomainFolderDataset', domain='sketch', **kw))
    assert {i['img_path']: i['gt_label'] for i in infos(folder)} == listed


def test_domainnet_split_config_builds_on_official_files(tmp_path):
    cfg_path = osp.join(REPO, 'configs', '_base_', 'datasets',
                        'domainnet_split.py')
    classes = list(load_config(cfg_path).classes)
    make_domainnet(tmp_path, classes=classes, n_train=1, n_test=1)
    cfg = load_config(
        cfg_path,
        dict(
            data_root=str(tmp_path),
            source_domain='clipart',
            target_domain='sketch'))
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train.source), len(train.target), len(val)) == (345, 345, 345)
    assert all('_test.txt' not in i['img_path'] for i in infos(val))
    assert {i['img_path']
            for i in infos(val)
            }.isdisjoint({i['img_path']
                          for i in infos(train.target)})
    idx = classes.index('The_Eiffel_Tower')
    sample = val[idx]
    assert sample['inputs'].shape == (3, 224, 224)
    assert int(sample['data_samples'].gt_label) == idx
    img_path = sample['data_samples'].img_path
    assert f'{os.sep}The_Eiffel_Tower{os.sep}' in img_path


def test_imageclef_list_config_builds(tmp_path):
    make_clef(tmp_path, 'i', per_class=1)
    make_clef(tmp_path, 'p', per_class=2)
    cfg = load_config(
        osp.join(REPO, 'configs', '_base_', 'datasets', 'image_clef_list.py'),
        dict(data_root=str(tmp_path), target_holdout=0.5))
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train.source), len(train.target), len(val)) == (12, 12, 12)
    out = train[3]
    assert out['source']['inputs'].shape == (3, 224, 224)
    assert int(out['source']['data_samples'].gt_label) == 3


# ---------------------------------------------------------------- errors


def test_missing_list_file(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        build(
            data_root=str(tmp_path),
            ann_file='list/cList.txt',
            classes=CLEF_CLASSES)
    assert osp.join(str(tmp_path), 'list', 'cList.txt') in str(exc.value)
    assert '`ann_file`' in str(exc.value)
    assert_one_line(exc.value)


@pytest.mark.parametrize('line, words', [
    ('c/only_a_path.jpg', ['expected', '<path> <label>']),
    ('c/x.jpg seven', ['label', "'seven'", 'not an int']),
    ('c/x.jpg 12', ['label 12', '0..11']),
    ('c/x.jpg -1', ['label -1']),
])
def test_bad_line_names_file_and_line_number(tmp_path, line, words):
    make_clef(tmp_path, 'c', per_class=1)
    path = osp.join(str(tmp_path), 'list', 'cList.txt')
    with open(path) as f:
        good = f.read().splitlines()
    write_list(path, good[:3] + [line] + good[3:])
    with pytest.raises(ValueError) as exc:
        build(
            data_root=str(tmp_path),
            ann_file='list/cList.txt',
            classes=CLEF_CLASSES)
    msg = str(exc.value)
    assert f'{path}:4' in msg
    for word in words:
        assert word in msg
    assert_one_line(exc.value)


def test_missing_image_is_named_with_its_line(tmp_path):
    make_clef(tmp_path, 'c', per_class=1)
    missing = osp.join(str(tmp_path), 'c', '105_0000.jpg')  # label 5, line 6
    os.remove(missing)
    with pytest.raises(FileNotFoundError) as exc:
        build(
            data_root=str(tmp_path),
            ann_file='list/cList.txt',
            classes=CLEF_CLASSES)
    msg = str(exc.value)
    assert missing in msg
    assert osp.join(str(tmp_path), 'list', 'cList.txt') + ':6' in msg
    assert '1 of 12' in msg
    assert_one_line(exc.value)


def test_wrong_data_root_reports_the_first_missing_image(tmp_path):
    make_clef(tmp_path, 'c', per_class=1)
    with pytest.raises(FileNotFoundError) as exc:
        build(
            data_root=str(tmp_path),
            data_prefix='nowhere',
            ann_file='list/cList.txt',
            classes=CLEF_CLASSES)
    assert osp.join(str(tmp_path), 'nowhere', 'c',
                    '100_0000.jpg') in str(exc.value)
    assert '12 of 12' in str(exc.value)
    assert_one_line(exc.value)


def test_check_files_false_defers_to_load_time(tmp_path):
    make_clef(tmp_path, 'c', per_class=1)
    gone = osp.join(str(tmp_path), 'c', '100_0000.jpg')
    os.remove(gone)
    ds = build(
        data_root=str(tmp_path),
        ann_file='list/cList.txt',
        classes=CLEF_CLASSES,
        check_files=False,
        pipeline=PACK)
    assert len(ds) == 12
    with pytest.raises(ImageLoadError) as exc:
        ds[0]
    assert gone in str(exc.value)
    assert_one_line(exc.value)


def test_unreadable_image_raises_image_load_error(tmp_path):
    make_clef(tmp_path, 'c', per_class=1)
    bad = osp.join(str(tmp_path), 'c', '101_0000.jpg')
    with open(bad, 'wb') as f:
        f.write(b'not a jpeg at all')
    ds = build(
        data_root=str(tmp_path),
        ann_file='list/cList.txt',
        classes=CLEF_CLASSES,
        pipeline=PACK)
    with pytest.raises(ImageLoadError) as exc:
        ds[1]
    assert bad in str(exc.value)
    assert_one_line(exc.value)
    assert ds[2]['inputs'].shape == (3, 10, 12)


def test_strip_prefix_mismatch(tmp_path):
    write_image(osp.join(str(tmp_path), 'c', 'x.jpg'))
    path = write_list(osp.join(str(tmp_path), 'l.txt'), ['c/x.jpg 0'])
    with pytest.raises(ValueError) as exc:
        build(
            data_root=str(tmp_path),
            ann_file='l.txt',
            classes=['a'],
            strip_prefix='data/imageCLEF/')
    assert f'{path}:1' in str(exc.value)
    assert '`strip_prefix`' in str(exc.value)
    assert_one_line(exc.value)


def test_list_without_entries(tmp_path):
    path = write_list(osp.join(str(tmp_path), 'l.txt'), ['# nothing', ''])
    with pytest.raises(ValueError) as exc:
        build(data_root=str(tmp_path), ann_file='l.txt', classes=['a'])
    assert path in str(exc.value)
    assert_one_line(exc.value)


@pytest.mark.parametrize('classes, word', [([], '`classes`'),
                                           (['a', 'a'], 'duplicate'),
                                           ('ab', '`classes`')])
def test_bad_classes(tmp_path, classes, word):
    write_image(osp.join(str(tmp_path), 'x.jpg'))
    write_list(osp.join(str(tmp_path), 'l.txt'), ['x.jpg 0'])
    with pytest.raises((ValueError, TypeError)) as exc:
        build(data_root=str(tmp_path), ann_file='l.txt', classes=classes)
    assert word in str(exc.value)
    assert_one_line(exc.value)


def test_empty_ann_file(tmp_path):
    with pytest.raises(ValueError) as exc:
        build(data_root=str(tmp_path), ann_file='', classes=['a'])
    assert '`ann_file`' in str(exc.value)
    assert_one_line(exc.value)


# --------------------------------------- ImageCLEF-DA release as downloaded
#
# The released archive: flat image folders b/ c/ i/ p/ (Caltech-named files
# such as 252_0446.jpg in b/ and c/), list/<d>List.txt, and top-level flat
# <d>_list.txt ("…/b/252_0446.jpg 6" per line, labels in the 12-class order:
# thuml/CDAN data/image-clef/b_list.txt); in list/bList.txt and
# list/cList.txt the paths carry a Caltech class folder that the flat
# release does not have. The official code (upstream.md §5) instead reads
# ImageFolder(<domain>) with class-named folders <domain>/<class>/.


def caltech_folder(label):
    return f'{100 + label}.{CLEF_CLASSES[label]}-101'


def make_clef_release(root,
                      domains=('b', 'c', 'i', 'p'),
                      per_class=1,
                      class_folders_on_disk=False):
    """The release: flat ``<d>/<caltech id>_<n>.jpg`` images (or, with
    ``class_folders_on_disk``, ``<d>/<caltech class>/<file>``),
    ``list/<d>List.txt`` whose b/c lines name the Caltech class folder, and
    flat top-level ``<d>_list.txt``."""
    root = str(root)
    files = {}
    for d in domains:
        nested, flat = [], []
        for label in range(len(CLEF_CLASSES)):
            for n in range(per_class):
                name = f'{100 + label}_{n:04d}.jpg'
                deep = f'{d}/{caltech_folder(label)}/{name}'
                on_disk = deep if class_folders_on_disk else f'{d}/{name}'
                write_image(osp.join(root, on_disk), value=10 * label)
                flat.append(f'{d}/{name} {label}')
                nested.append(f'{deep if d in "bc" else d + "/" + name} '
                              f'{label}')
                files.setdefault(d, []).append(osp.join(root, on_disk))
        write_list(osp.join(root, 'list', f'{d}List.txt'), nested)
        write_list(osp.join(root, f'{d}_list.txt'), flat)
    return files


@pytest.mark.parametrize(
    'class_folders_on_disk', [False, True],
    ids=['flat-images', 'class-folder-images'])
@pytest.mark.parametrize('ann_file', ['list/cList.txt', 'c_list.txt'])
def test_either_release_list_matches_the_images_on_disk(
        tmp_path, ann_file, class_folders_on_disk):
    files = make_clef_release(
        tmp_path, ('c', ),
        per_class=2,
        class_folders_on_disk=class_folders_on_disk)
    ds = build(
        data_root=str(tmp_path),
        ann_file=ann_file,
        classes=CLEF_CLASSES,
        find_by_name=True,
        pipeline=PACK)
    assert [i['img_path'] for i in infos(ds)] == files['c']
    assert [i['gt_label'] for i in infos(ds)] == sorted(list(range(12)) * 2)
    out = ds[5]  # label 2, pixels 10 * label
    assert int(out['data_samples'].gt_label) == 2
    assert abs(float(out['inputs'].float().mean()) - 20) < 3


def test_release_list_without_find_by_name_names_the_line(tmp_path):
    make_clef_release(tmp_path, ('c', ))
    with pytest.raises(FileNotFoundError) as exc:
        build(
            data_root=str(tmp_path),
            ann_file='list/cList.txt',
            classes=CLEF_CLASSES)
    assert 'cList.txt:1' in str(exc.value)
    assert_one_line(exc.value)


def test_find_by_name_error_names_the_list_line(tmp_path):
    make_clef_release(tmp_path, ('c', ))
    os.remove(osp.join(str(tmp_path), 'c', '103_0000.jpg'))  # line 4
    with pytest.raises(FileNotFoundError) as exc:
        build(
            data_root=str(tmp_path),
            ann_file='list/cList.txt',
            classes=CLEF_CLASSES,
            find_by_name=True)
    msg = str(exc.value)
    assert osp.join(str(tmp_path), 'list', 'cList.txt') + ':4' in msg
    assert f'{caltech_folder(3)}/103_0000.jpg' in msg  # the listed path
    assert "no file named '103_0000.jpg' under " + osp.join(
        str(tmp_path), 'c') in msg
    assert_one_line(exc.value)
    # two candidates: ambiguous, also named with the line
    write_image(osp.join(str(tmp_path), 'c', 'x', '103_0000.jpg'))
    write_image(osp.join(str(tmp_path), 'c', 'y', '103_0000.jpg'))
    with pytest.raises(ValueError) as exc:
        build(
            data_root=str(tmp_path),
            ann_file='list/cList.txt',
            classes=CLEF_CLASSES,
            find_by_name=True)
    assert 'cList.txt:4' in str(exc.value) and '2 files' in str(exc.value)
    assert_one_line(exc.value)


GRID = osp.join(REPO, 'configs')


def _grid_datasets(config, **options):
    cfg = load_config(osp.join(GRID, config), options)
    return (DATASETS.build(cfg.train_dataloader.dataset),
            DATASETS.build(cfg.val_dataloader.dataset))


@pytest.mark.parametrize('config', [
    'cmkd/imageclef_rn50.py', 'rst/imageclef_vitb16.py',
    'zeroshot/imageclef_rn101.py'
])
def test_imageclef_grid_reads_the_release_as_downloaded(tmp_path, config):
    files = make_clef_release(tmp_path)
    cfg = load_config(osp.join(GRID, config))
    assert cfg.data_layout == 'list'
    for src, tgt in [('i', 'p'), ('c', 'b')]:
        cfg = load_config(
            osp.join(GRID, config),
            dict(
                data_root=str(tmp_path), source_domain=src, target_domain=tgt))
        val = DATASETS.build(cfg.test_dataloader.dataset)
        assert [i['img_path'] for i in infos(val)] == files[tgt]
        assert [i['gt_label'] for i in infos(val)] == list(range(12))
        if cfg.get('train_dataloader'):
            train = DATASETS.build(cfg.train_dataloader.dataset)
            assert [i['img_path'] for i in infos(train.source)] == files[src]
            assert len(train.target) == 12


def test_imageclef_class_folders_are_the_option(tmp_path):
    """``data_layout=folders`` reads class-named folders (the official
    code's layout); each layout's error points at the other."""
    root = str(tmp_path / 'folders')
    for d in ('i', 'p'):
        for label, name in enumerate(CLEF_CLASSES):
            write_image(osp.join(root, d, name, '0.jpg'), value=label)
    train, val = _grid_datasets(
        'cmkd/imageclef_rn50.py', data_root=root, data_layout='folders')
    assert len(train.source) == len(val) == 12
    assert [i['gt_label'] for i in infos(val)] == list(range(12))
    with pytest.raises(FileNotFoundError) as exc:
        _grid_datasets('cmkd/imageclef_rn50.py', data_root=root)
    assert 'data_layout' in str(exc.value)
    assert_one_line(exc.value)

    release = str(tmp_path / 'release')
    make_clef_release(release)
    with pytest.raises(FileNotFoundError) as exc:
        _grid_datasets(
            'cmkd/imageclef_rn50.py', data_root=release, data_layout='folders')
    msg = str(exc.value)
    assert 'class folder missing' in msg and "data_layout='list'" in msg
    assert_one_line(exc.value)


def test_domainnet_split_protocol_configs(tmp_path):
    """configs/*/domainnet_split_*.py: standard protocol (official split
    files) beside the whole-folder configs of the official code
    (upstream.md §10 #18: whole domain folders for training and
    evaluation)."""
    classes = list(
        load_config(osp.join(GRID, 'cmkd',
                             'domainnet_split_vitb16.py')).classes)
    make_domainnet(tmp_path, classes=classes, n_train=2, n_test=1)
    opts = dict(
        data_root=str(tmp_path),
        source_domain='clipart',
        target_domain='sketch')
    train, val = _grid_datasets('cmkd/domainnet_split_vitb16.py', **opts)
    assert (len(train.source), len(train.target), len(val)) == (690, 690, 345)
    test_files = {i['img_path'] for i in infos(val)}
    assert all(p.endswith('_000002.jpg') for p in test_files)
    assert test_files.isdisjoint(i['img_path'] for i in infos(train.target))
    whole_train, whole_val = _grid_datasets('cmkd/domainnet_vitb16.py', **opts)
    assert len(whole_train.target) == len(whole_val) == 1035
    assert test_files < {i['img_path'] for i in infos(whole_val)}
    for name in ('cmkd/domainnet_split_rn50_fixmatch.py',
                 'source_only/domainnet_split_rn101.py',
                 'rst/domainnet_split_vitb16.py',
                 'zeroshot/domainnet_split_rn50.py'):
        cfg = load_config(osp.join(GRID, name), opts)
        assert cfg.data_layout == 'list'
        assert cfg.test_dataloader.dataset.list_file == './{domain}_test.txt'
