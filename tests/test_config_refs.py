"""Behavioural tests of ``${key}`` config references
(:mod:`mmvlpuda.utils.config_refs`)."""
import os

import pytest
from mmengine.config import Config

import mmvlpuda  # noqa: F401  (installs compatibility shims)
from mmvlpuda.utils.config_refs import (ConfigReferenceError, check_resolved,
                                        load_config, resolve_cfg_refs)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFICEHOME_RN50 = os.path.join(REPO, 'configs', 'cmkd', 'officehome_rn50.py')

OFFICE_HOME_CLASSES = [
    'Alarm_Clock', 'Backpack', 'Batteries', 'Bed', 'Bike', 'Bottle', 'Bucket',
    'Calculator', 'Calendar', 'Candles', 'Chair', 'Clipboards', 'Computer',
    'Couch', 'Curtains', 'Desk_Lamp', 'Drill', 'Eraser', 'Exit_Sign', 'Fan',
    'File_Cabinet', 'Flipflops', 'Flowers', 'Folder', 'Fork', 'Glasses',
    'Hammer', 'Helmet', 'Kettle', 'Keyboard', 'Knives', 'Lamp_Shade', 'Laptop',
    'Marker', 'Monitor', 'Mop', 'Mouse', 'Mug', 'Notebook', 'Oven', 'Pan',
    'Paper_Clip', 'Pen', 'Pencil', 'Postit_Notes', 'Printer', 'Push_Pin',
    'Radio', 'Refrigerator', 'Ruler', 'Scissors', 'Screwdriver', 'Shelf',
    'Sink', 'Sneakers', 'Soda', 'Speaker', 'Spoon', 'TV', 'Table', 'Telephone',
    'ToothBrush', 'Toys', 'Trash_Can', 'Webcam'
]


# ---------------------------------------------------------------------------
# resolve_cfg_refs
# ---------------------------------------------------------------------------
def test_docstring_example():
    cfg = Config(
        dict(data_root='data/oh', dataset=dict(data_root='${data_root}')))
    assert resolve_cfg_refs(cfg).dataset.data_root == 'data/oh'


def test_whole_string_ref_keeps_list_type():
    cfg = Config(
        dict(classes=['cat', 'dog'], head=dict(classnames='${classes}')))
    out = resolve_cfg_refs(cfg)
    assert isinstance(out.head.classnames, list)
    assert out.head.classnames == ['cat', 'dog']


@pytest.mark.parametrize('value', [3, 0.5, True, None, (1, 2)])
def test_whole_string_ref_keeps_scalar_and_tuple_types(value):
    cfg = Config(dict(v=value, d=dict(x='${v}')))
    out = resolve_cfg_refs(cfg)
    assert out.d.x == value
    assert type(out.d.x) is type(value)


def test_whole_string_ref_to_dict():
    cfg = Config(
        dict(norm=dict(type='BN', eps=1e-5), head=dict(norm='${norm}')))
    out = resolve_cfg_refs(cfg)
    assert out.head.norm.type == 'BN'
    assert out.head.norm.eps == 1e-5


def test_embedded_refs_are_formatted_into_strings():
    cfg = Config(
        dict(
            root='data/oh',
            src='Art',
            n=3,
            d=dict(path='${root}/${src}/images', tag='n=${n}')))
    out = resolve_cfg_refs(cfg)
    assert out.d.path == 'data/oh/Art/images'
    assert out.d.tag == 'n=3'
    assert isinstance(out.d.tag, str)


def test_strings_without_refs_are_untouched():
    cfg = Config(
        dict(
            root='r',
            d=dict(
                a='plain',
                b='$root',
                c='{root}',
                e='a photo of a {}.',
                g='$ {root}',
                h='{{root}}',
                f=5)))
    out = resolve_cfg_refs(cfg)
    assert out.d.a == 'plain'
    assert out.d.b == '$root'
    assert out.d.c == '{root}'
    assert out.d.e == 'a photo of a {}.'
    assert out.d.g == '$ {root}'
    assert out.d.h == '{{root}}'
    assert out.d.f == 5


def test_nested_dict_and_list_resolution():
    cfg = Config(
        dict(
            root='/data',
            dom='Clipart',
            classes=['a', 'b', 'c'],
            loader=dict(
                dataset=dict(
                    type='UDADataset',
                    source=dict(
                        data_root='${root}',
                        domain='${dom}',
                        classes='${classes}'),
                    pipeline=[
                        dict(type='Load', prefix='${root}/img'),
                        ['${dom}', dict(deep='${dom}')]
                    ],
                    pair=('${dom}', 'x-${dom}'))),
            top_list=['${root}', dict(c='${classes}')]))
    out = resolve_cfg_refs(cfg)
    ds = out.loader.dataset
    assert ds.source.data_root == '/data'
    assert ds.source.domain == 'Clipart'
    assert ds.source['classes'] == ['a', 'b', 'c']
    assert ds.pipeline[0].prefix == '/data/img'
    assert ds.pipeline[1][0] == 'Clipart'
    assert ds.pipeline[1][1].deep == 'Clipart'
    assert tuple(ds.pair) == ('Clipart', 'x-Clipart')
    assert isinstance(ds.pair, tuple)
    assert out.top_list[0] == '/data'
    assert out.top_list[1].c == ['a', 'b', 'c']
    # untouched keys survive
    assert ds.type == 'UDADataset'
    assert out.root == '/data'


def test_resolves_in_place_and_returns_cfg():
    cfg = Config(dict(root='r', d=dict(x='${root}')))
    out = resolve_cfg_refs(cfg)
    assert out is cfg
    assert cfg.d.x == 'r'


def test_resolved_list_is_not_shared_between_uses():
    cfg = Config(
        dict(
            classes=['a', 'b'],
            h1=dict(c='${classes}'),
            h2=dict(c='${classes}')))
    out = resolve_cfg_refs(cfg)
    out.h1.c.append('z')
    assert out.h2.c == ['a', 'b']
    assert out.classes == ['a', 'b']


def test_idempotent():
    cfg = Config(dict(root='r', d=dict(x='${root}/y', l=['${root}'])))
    once = resolve_cfg_refs(cfg).to_dict()
    twice = resolve_cfg_refs(cfg).to_dict()
    assert once == twice == dict(root='r', d=dict(x='r/y', l=['r']))


def test_missing_key_raises_keyerror_naming_reference_and_path():
    cfg = Config(dict(a=dict(b=[1, '${nope}'])))
    with pytest.raises(KeyError) as exc:
        resolve_cfg_refs(cfg)
    msg = exc.value.args[0]
    assert '${nope}' in msg
    assert 'a.b[1]' in msg


def test_missing_key_message_is_one_plain_line():
    cfg = Config(
        dict(train_dataloader=dict(dataset=dict(data_root='${data_root}'))))
    with pytest.raises(ConfigReferenceError) as exc:
        resolve_cfg_refs(cfg)
    # str() is the message itself, not KeyError's quoted repr
    assert str(
        exc.value) == ("config key '${data_root}' referenced by "
                       'train_dataloader.dataset.data_root is not defined')
    assert isinstance(exc.value, KeyError)


def test_missing_key_never_becomes_a_path():
    """The error comes from resolving, before any dataset joins the
    literal reference into a path."""
    cfg = Config(
        dict(
            source_domain='Art',
            dataset=dict(img_dir='${data_root}/${source_domain}')))
    with pytest.raises(
            ConfigReferenceError,
            match=r"'\$\{data_root\}' referenced by "
            r'dataset\.img_dir is not defined'):
        resolve_cfg_refs(cfg)


@pytest.mark.parametrize('text, key', [
    ('${ root }', ' root '),
    ('${root }/x', 'root '),
    ('${a.b}', 'a.b'),
    ('${data-root}', 'data-root'),
    ('${}', ''),
])
def test_malformed_reference_fails_loudly(text, key):
    """Strings that look like a reference but name no top-level key are
    errors too, never kept as literal values."""
    cfg = Config(dict(root='r', d=dict(x=['ok', text])))
    with pytest.raises(ConfigReferenceError) as exc:
        resolve_cfg_refs(cfg)
    msg = str(exc.value)
    assert f"config key '${{{key}}}' referenced by d.x[1] is not defined" \
        in msg
    assert '\n' not in msg


def test_malformed_reference_hints_at_the_key():
    cfg = Config(dict(root='r', d=dict(x='${ root }')))
    with pytest.raises(ConfigReferenceError, match=r"did you mean '\$\{root"):
        resolve_cfg_refs(cfg)


def test_reference_built_by_substitution_is_an_error():
    """Substitution is single-pass: a reference assembled from the
    substituted text is not resolved again, and is not left in place."""
    cfg = Config(dict(dollar='$', c='x', d=dict(v='${dollar}{c}')))
    with pytest.raises(ConfigReferenceError, match='is not resolved'):
        resolve_cfg_refs(cfg)


def test_check_resolved_on_unresolved_config(tmp_path):
    """``Config.fromfile`` alone leaves references in place;
    ``check_resolved`` names the first one and how to resolve it."""
    path = tmp_path / 'cfg.py'
    path.write_text("data_root = 'data/x'\n"
                    "dataset = dict(root='${data_root}', n='${nope}')\n")
    cfg = Config.fromfile(str(path))
    with pytest.raises(
            ConfigReferenceError,
            match=r'dataset\.root is not resolved \(load the '
            'config with mmvlpuda.utils.load_config'):
        check_resolved(cfg)
    del cfg.dataset['root']
    with pytest.raises(
            ConfigReferenceError, match=r'dataset\.n is not defined'):
        check_resolved(cfg)
    cfg.dataset.n = 'n'
    assert check_resolved(cfg) is cfg


def test_mmengine_substitutions_are_not_references(tmp_path, monkeypatch):
    """mmengine's own ``{{_base_.xxx}}`` and ``{{$NAME:default}}`` are
    substituted by ``Config.fromfile``; they are not ``${key}`` references
    and never trip the check."""
    monkeypatch.setenv('MMVLPUDA_TEST_ROOT', '/env/root')
    (tmp_path / 'base.py').write_text('crop = 32\n')
    path = tmp_path / 'cfg.py'
    path.write_text("_base_ = ['./base.py']\n"
                    "root = '{{$MMVLPUDA_TEST_ROOT:/default}}'\n"
                    'size = {{_base_.crop}}\n'
                    "dataset = dict(root='${root}', size='${size}')\n")
    cfg = load_config(str(path))
    assert cfg.dataset.root == '/env/root'
    assert cfg.dataset.size == 32


def test_load_config_option_with_missing_reference(tmp_path):
    """A ``--cfg-options`` value may hold a reference; an undefined one is
    the same one-line error."""
    path = tmp_path / 'cfg.py'
    path.write_text("data_root = 'data/x'\n"
                    "dataset = dict(root='${data_root}')\n")
    cfg = load_config(str(path), {'dataset.root': '${data_root}/sub'})
    assert cfg.dataset.root == 'data/x/sub'
    with pytest.raises(
            ConfigReferenceError,
            match=r"'\$\{dataroot\}' referenced by dataset\.root "
            'is not defined'):
        load_config(str(path), {'dataset.root': '${dataroot}'})


def test_missing_key_in_embedded_ref_names_path():
    cfg = Config(dict(root='r', model=dict(head=dict(path='${root}/${dir}'))))
    with pytest.raises(KeyError) as exc:
        resolve_cfg_refs(cfg)
    msg = exc.value.args[0]
    assert '${dir}' in msg
    assert 'model.head.path' in msg


def test_chained_references_resolve():
    cfg = Config(dict(a='x', b='${a}', c=dict(v='${b}')))
    out = resolve_cfg_refs(cfg)
    assert out.b == 'x' and out.c.v == 'x'


def test_chained_embedded_references_resolve():
    cfg = Config(dict(a='x', b='pre-${a}', c=dict(v='${b}/post')))
    assert resolve_cfg_refs(cfg).c.v == 'pre-x/post'


def test_reference_cycle_is_rejected_naming_the_cycle():
    cfg = Config(dict(a='${b}', b=dict(v='${a}'), c='${a}'))
    with pytest.raises(ValueError, match='cycle: .*a -> b -> a'):
        resolve_cfg_refs(cfg)


@pytest.mark.parametrize('order', ['list_first', 'list_last'])
def test_chained_reference_through_list_never_left_unresolved(order):
    """A whole-string ref to a top-level list that itself holds refs must be
    resolved or rejected, independently of key order - never silently kept
    as a literal ``'${x}'``."""
    items = [('x', 'A'), ('lst', ['${x}']), ('head', dict(c='${lst}'))]
    if order == 'list_last':
        items = [items[0], items[2], items[1]]
    cfg = Config(dict(items))
    try:
        out = resolve_cfg_refs(cfg)
    except ValueError:
        return
    assert out.lst == ['A']
    assert out.head.c == ['A']


# ---------------------------------------------------------------------------
# load_config on the real benchmark config
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def product_cfg():
    return load_config(OFFICEHOME_RN50, {
        'source_domain': 'Product',
        'data_root': '/x'
    })


def test_load_config_overrides_reach_datasets(product_cfg):
    ds = product_cfg.train_dataloader.dataset
    assert ds.source.domain == 'Product'
    assert ds.target.domain == 'Clipart'
    assert ds.source.data_root == '/x'
    assert ds.target.data_root == '/x'
    assert product_cfg.val_dataloader.dataset.domain == 'Clipart'
    assert product_cfg.val_dataloader.dataset.data_root == '/x'
    assert product_cfg.test_dataloader.dataset.data_root == '/x'


def test_load_config_class_list(product_cfg):
    classnames = product_cfg.model.text_head.classnames
    assert isinstance(classnames, list)
    assert len(classnames) == 65
    assert classnames == OFFICE_HOME_CLASSES
    assert product_cfg.train_dataloader.dataset.source['classes'] == \
        OFFICE_HOME_CLASSES
    assert product_cfg.model.text_head.templates == ['an image of a {}']


def test_load_config_leaves_no_reference(product_cfg):

    def walk(v, path):
        if isinstance(v, str):
            assert '${' not in v, path
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f'{path}.{k}')
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f'{path}[{i}]')

    walk(product_cfg.to_dict(), 'cfg')


def test_load_config_defaults_and_nested_option():
    cfg = load_config(OFFICEHOME_RN50, {'train_dataloader.batch_size': 8})
    ds = cfg.train_dataloader.dataset
    assert cfg.train_dataloader.batch_size == 8
    assert ds.source.domain == 'Art'
    assert ds.target.domain == 'Clipart'
    assert ds.source.data_root == 'data/office_home'


def test_load_config_without_options():
    cfg = load_config(OFFICEHOME_RN50)
    assert cfg.train_dataloader.dataset.source.domain == 'Art'
    assert cfg.model.text_head.classnames == OFFICE_HOME_CLASSES


def test_load_config_target_override():
    cfg = load_config(OFFICEHOME_RN50, dict(target_domain='Real_World'))
    assert cfg.train_dataloader.dataset.target.domain == 'Real_World'
    assert cfg.val_dataloader.dataset.domain == 'Real_World'
    assert cfg.train_dataloader.dataset.source.domain == 'Art'


def test_load_config_missing_file():
    with pytest.raises(FileNotFoundError):
        load_config(os.path.join(REPO, 'configs', 'does_not_exist.py'))
