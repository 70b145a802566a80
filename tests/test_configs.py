"""The classification config grid (configs/cmkd, configs/source_only,
configs/zeroshot, configs/rst; see configs/cmkd/README.md).

* the grid is complete: 6 benchmarks (+ DomainNet's split-file protocol,
  ``domainnet_split``) x 3 backbones x 5 variants;
* every config carries the paper's / official code's settings of its
  benchmark and backbone (upstream.md §6, §7, §9, App. A/B);
* every config builds and runs in-process through ``mmengine.runner.Runner``
  with a tiny random open_clip model, 64 px images and generated data of the
  benchmark's class count and layout as downloaded (1 image per class per
  domain; ImageCLEF-DA: the release's flat images + list files; DomainNet
  split: + the official split files; digits from tiny torchvision-format
  files): 2 training iterations + evaluation,
  or (zero-shot) just the test loop.
"""
import gc
import glob
import os
import os.path as osp
import struct

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from PIL import Image
from scipy.io import savemat

from conftest import REPO_ROOT
from mmvlpuda.utils import load_config, resolve_cfg_refs

VARIANT_DIRS = ('cmkd', 'source_only', 'zeroshot', 'rst')
BENCHMARKS = ('officehome', 'office31', 'imageclef', 'visda', 'domainnet',
              'digits', 'domainnet_split')
# benchmark whose paper / official settings a config family carries
SETTINGS_OF = dict(domainnet_split='domainnet')
# data layout (`data_layout`) of the benchmarks that have one: ImageCLEF-DA
# as released (list files), DomainNet whole folders (official code) or the
# official split files
LAYOUT = dict(imageclef='list', domainnet='folders', domainnet_split='list')
BACKBONES = ('rn50', 'rn101', 'vitb16')
CONFIGS = sorted(
    path for d in VARIANT_DIRS
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', d, '*.py')))

NUM_CLASSES = dict(
    officehome=65,
    office31=31,
    imageclef=12,
    visda=12,
    domainnet=345,
    digits=10)
ARCH = dict(rn50='RN50', rn101='RN101', vitb16='ViT-B-16')
TEMPLATES = dict(
    officehome=['an image of a {}'], digits=['a photo of the number: "{}"'])
# iterations and evaluation interval (= one upstream epoch)
ITERS = dict(
    officehome=(10000, 500),
    office31=(10000, 500),
    imageclef=(10000, 500),
    visda=(20000, 1000),
    domainnet=(40000, 1000),
    digits=(20000, 1000))
LAMBDAS = dict(office31=(0.25, 0., 0.), domainnet=(0.025, 0.1, 0.0025))
FIXMATCH = dict(visda=(2.0, 0.80), domainnet=(0.1, 0.95))


def _split(config):
    """``(variant, benchmark, backbone)`` of a grid config path."""
    variant = osp.basename(osp.dirname(config))
    name = osp.splitext(osp.basename(config))[0]
    if name.endswith('_fixmatch'):
        variant, name = 'fixmatch', name[:-len('_fixmatch')]
    benchmark, backbone = name.rsplit('_', 1)
    return variant, benchmark, backbone


def _expected_lr(benchmark, backbone):
    """(backbone lr, head lr multiplier, RST tau) of the paper."""
    vit = backbone == 'vitb16'
    if benchmark == 'visda':
        return (3e-7, 1e3, 1e-7) if vit else (3e-9, 1e4, 1e-8)
    return (3e-6, 1e3, 1e-6) if vit else (3e-7, 1e4, 1e-6)


def _config_id(config):
    return osp.relpath(config, osp.join(REPO_ROOT, 'configs'))


# ------------------------------------------------------------ grid, settings


def test_grid_is_complete():
    names = {_config_id(c) for c in CONFIGS}
    expected = set()
    for b in BENCHMARKS:
        for k in BACKBONES:
            expected |= {
                f'cmkd/{b}_{k}.py', f'cmkd/{b}_{k}_fixmatch.py',
                f'source_only/{b}_{k}.py', f'zeroshot/{b}_{k}.py',
                f'rst/{b}_{k}.py'
            }
    assert names == expected


@pytest.mark.parametrize('config', CONFIGS, ids=_config_id)
def test_config_has_the_paper_settings(config):
    variant, benchmark, backbone = _split(config)
    cfg = load_config(config)
    assert '${' not in repr(cfg.to_dict())
    assert cfg.get('data_layout') == LAYOUT.get(benchmark)
    benchmark = SETTINGS_OF.get(benchmark, benchmark)
    assert len(cfg.classes) == NUM_CLASSES[benchmark]
    model = cfg.model
    assert model.backbone.arch == ARCH[backbone]
    assert model.backbone.pretrained == 'openai'
    assert model.text_head.classnames == cfg.classes
    # upstream.md §9: the official Office-31 prompt for back_pack is
    # "backpack"; every other name is the lower-cased folder name
    assert model.text_head.get('prompt_names') == (
        dict(back_pack='backpack') if benchmark == 'office31' else None)
    assert model.text_head.templates == TEMPLATES.get(benchmark,
                                                      ['a photo of a {}'])
    assert model.predict_head == ('text' if variant == 'zeroshot' else 'task')
    if variant == 'zeroshot':  # train-free
        for key in ('train_dataloader', 'train_cfg', 'optim_wrapper'):
            assert cfg[key] is None
        return
    lr, head_mult, tau = _expected_lr(benchmark, backbone)
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'SGD' and optimizer.nesterov
    assert (optimizer.momentum, optimizer.weight_decay) == (0.9, 5e-4)
    assert optimizer.lr == pytest.approx(lr)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.task_head.lr_mult == \
        pytest.approx(head_mult)
    assert (cfg.train_cfg.max_iters,
            cfg.train_cfg.val_interval) == ITERS[benchmark]
    assert cfg.train_dataloader.batch_size == (64 if benchmark == 'digits' else
                                               32)
    if variant == 'source_only':
        assert model.cmkd_loss is None
    else:
        loss = model.cmkd_loss
        assert (loss.lambda1, loss.lambda2, loss.lambda3) == \
            pytest.approx(LAMBDAS.get(benchmark, (0.25, 0.1, 0.025)))
        assert loss.ramp_iters == 10000  # official: ramp capped at 10k
    hooks = [
        h for h in cfg.get('custom_hooks', []) if h.type == 'mmvlpuda.RSTHook'
    ]
    if variant == 'rst':
        assert len(hooks) == 1 and hooks[0].tau == pytest.approx(tau)
    else:
        assert not hooks
    strong = cfg.train_dataloader.dataset.get('target_strong')
    if variant == 'fixmatch':
        fm = model.fixmatch_loss
        assert (fm.weight, fm.threshold) == pytest.approx(
            FIXMATCH.get(benchmark, (0.5, 0.95)))
        types = [t['type'] for t in strong]
        assert types[-2:] == ['TimmRandAugment', 'mmpretrain.PackInputs']
        assert ('LoadImageFromFile' in types) == (benchmark != 'digits')
        resize = next(t for t in strong if t['type'] == 'Resize')
        assert tuple(resize['scale']) == ((224,
                                           224) if benchmark == 'visda' else
                                          (256, 256))
    else:
        assert model.get('fixmatch_loss') is None and strong is None


@pytest.mark.parametrize('name',
                         [f'cmkd/{b}_vitb16_fixmatch.py' for b in BENCHMARKS] +
                         ['zeroshot/visda_rn50.py', 'rst/digits_rn101.py'])
def test_config_dump_reloads(name):
    """What tools/train.py logs and dumps into the work dir (mmengine's
    ``pretty_text``) is a config that loads back to the same settings."""
    cfg = load_config(osp.join(REPO_ROOT, 'configs', name))
    again = Config.fromstring(cfg.pretty_text, '.py')
    assert again.to_dict() == cfg.to_dict()


def test_usps_source_pipeline_option(tmp_path):
    """The documented U->M override of the digits configs resolves."""
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs/cmkd/digits_rn50.py'), {
            'source_domain': 'usps',
            'train_dataloader.dataset.source.pipeline':
            '${usps_source_pipeline}'
        })
    source = cfg.train_dataloader.dataset.source
    assert source.domain == 'usps'
    assert [t['type'] for t in source.pipeline
            ][:3] == ['Resize', 'mmpretrain.RandomCrop', 'mmpretrain.Rotate']
    out = Compose(source.pipeline)(
        dict(img=np.zeros((16, 16, 3), np.uint8), gt_label=3))
    assert tuple(out['inputs'].shape) == (3, 224, 224)


# ------------------------------------------------------------ generated data


def _image(rng, path, size=8):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (size, size, 3),
                                 dtype=np.uint8)).save(path)


def _write_folders(root, benchmark, cfg):
    """``<domain>/<class>/0.jpg`` (Office-31: the archive's
    ``<domain>/images/<class>``) for the source and target domains;
    DomainNet split: + ``1.jpg`` and the official ``<domain>_train.txt``
    (``0.jpg``) / ``<domain>_test.txt`` (``1.jpg``)."""
    rng = np.random.default_rng(0)
    sub = 'images' if benchmark == 'office31' else ''
    for domain in {cfg.source_domain, cfg.target_domain}:
        lines = dict(train=[], test=[])
        for label, name in enumerate(cfg.classes):
            _image(rng, osp.join(root, domain, sub, name, '0.jpg'))
            if benchmark == 'domainnet_split':
                _image(rng, osp.join(root, domain, name, '1.jpg'))
                for split, file in (('train', '0.jpg'), ('test', '1.jpg')):
                    lines[split].append(f'{domain}/{name}/{file} {label}')
        for split, split_lines in lines.items():
            if split_lines:
                with open(osp.join(root, f'{domain}_{split}.txt'), 'w') as f:
                    f.write('\n'.join(split_lines) + '\n')


def _write_imageclef_release(root, cfg):
    """ImageCLEF-DA as released: flat ``<domain>/<caltech id>_0.jpg`` images
    and ``list/<domain>List.txt`` ("i/100_0.jpg 0")."""
    rng = np.random.default_rng(0)
    os.makedirs(osp.join(root, 'list'), exist_ok=True)
    for domain in {cfg.source_domain, cfg.target_domain}:
        lines = []
        for label in range(len(cfg.classes)):
            rel = f'{domain}/{100 + label}_0.jpg'
            _image(rng, osp.join(root, rel))
            lines.append(f'{rel} {label}')
        with open(osp.join(root, 'list', f'{domain}List.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')


def _write_idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    os.makedirs(osp.dirname(path), exist_ok=True)
    header = bytes([0, 0, 8, arr.ndim]) + struct.pack(f'>{arr.ndim}I', *
                                                      arr.shape)
    with open(path, 'wb') as f:
        f.write(header + arr.tobytes())


def _write_digits(root, cfg):
    """One image per digit in the files torchvision writes: SVHN
    ``{split}_32x32.mat`` and MNIST ``MNIST/raw/*-ubyte``."""
    assert (cfg.source_domain, cfg.target_domain) == ('svhn', 'mnist')
    rng = np.random.default_rng(0)
    digits = np.arange(10)
    for split in ('train', 'test'):
        svhn = rng.integers(0, 256, (32, 32, 3, 10), dtype=np.uint8)
        savemat(
            osp.join(root, f'{split}_32x32.mat'),
            dict(X=svhn, y=np.where(digits == 0, 10, digits).reshape(-1, 1)))
        prefix = 'train' if split == 'train' else 't10k'
        raw = osp.join(root, 'MNIST', 'raw')
        _write_idx(
            osp.join(raw, f'{prefix}-images-idx3-ubyte'),
            rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))
        _write_idx(osp.join(raw, f'{prefix}-labels-idx1-ubyte'), digits)


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory):
    """Benchmark name -> generated data root (made on first use)."""
    roots = {}

    def get(benchmark, cfg):
        if benchmark not in roots:
            root = str(tmp_path_factory.mktemp(benchmark))
            if benchmark == 'digits':
                _write_digits(root, cfg)
            elif benchmark == 'imageclef':
                _write_imageclef_release(root, cfg)
            else:
                _write_folders(root, benchmark, cfg)
            roots[benchmark] = root
        return roots[benchmark]

    return get


def _cheap_text(self):
    return repr(self._cfg_dict.to_dict())


@pytest.fixture(scope='module')
def fast_tiny_runs():
    """Make 90 tiny runs cheap on a 2-core machine.

    * one torch thread: for tiny models threading costs more than it gives.
      numba (RSTHook's projection kernels) resets the OpenMP thread count
      when it launches its threading layer, so launch it first;
    * ``gc.freeze()``: mmengine's ``BaseDataset.full_init`` runs
      ``gc.collect()``, which otherwise rescans every torch object (~0.3 s
      per dataset);
    * ``Config.pretty_text`` (yapf formatting, >1 s for the 345 DomainNet
      class names repeated in the config) is replaced by ``repr`` for the
      Runner's log and config dump; the real dump is checked by
      ``test_config_dump_reloads``.
    """
    import numba
    numba_threads = numba.get_num_threads()
    numba.set_num_threads(1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gc.collect()
    gc.freeze()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Config, 'pretty_text', property(_cheap_text))
        yield
    gc.unfreeze()
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)


# ------------------------------------------------------------ tiny runs

SMALL = {224: 64, 256: 72}  # image sizes of the real pipelines -> tiny


def _small(value):
    if isinstance(value, int):
        return SMALL.get(value, value)
    if isinstance(value, (tuple, list)):
        return type(value)(_small(v) for v in value)
    return value


def _small_pipeline(pipeline):
    """The same transforms at 64 px (warps to 256 become 72, 224 -> 64)."""
    out = []
    for t in pipeline:
        t = dict(t)
        for key in ('scale', 'crop_size'):
            if key in t:
                t[key] = _small(t[key])
        if 'translate_const' in t:  # int(224 * 0.45) at full size
            t['translate_const'] = int(64 * 0.45)
        out.append(t)
    return out


def _tiny_cfg(config, data_root, work_dir):
    cfg = Config.fromfile(config)
    arch = 'mmvlpuda-tiny-vit' if 'vitb16' in config else 'mmvlpuda-tiny-rn'
    opts = {
        'data_root': data_root,
        'work_dir': work_dir,
        'model.backbone.arch': arch,
        'model.backbone.pretrained': None,
        'model.backbone.image_size': 64,
        'default_hooks.logger.interval': 1,
        'log_level': 'WARNING',
    }
    if cfg.get('train_cfg') is not None:
        opts.update({
            'train_cfg.max_iters': 2,
            'train_cfg.val_interval': 2,
            'train_dataloader.batch_size': 4,
        })
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is not None:
            opts[f'{loader}.num_workers'] = 0
            opts[f'{loader}.persistent_workers'] = False
    cfg.merge_from_dict(opts)
    # the datasets reference the pipelines as '${key}': replacing the
    # top-level keys shrinks every view
    text = repr(cfg.to_dict())
    assert '${test_pipeline}' in text
    assert ('${train_pipeline}' in text) == (cfg.train_cfg is not None)
    for key in ('train_pipeline', 'test_pipeline', 'target_strong_pipeline'):
        if key in cfg:
            cfg[key] = _small_pipeline(cfg[key])
    return resolve_cfg_refs(cfg)


def _close_logger(name):
    logger = MMLogger._instance_dict.get(name)
    if logger is not None:
        for handler in list(logger.handlers):
            handler.close()
            logger.removeHandler(handler)


def _check_metrics(metrics):
    assert metrics, 'no metrics'
    for key, value in metrics.items():
        assert 0. <= float(value) <= 100., (key, value)


def _check_eval_data(dataset, layout):
    """The evaluation data came in the benchmark's layout (list files: the
    ImageCLEF-DA release / the DomainNet test split)."""
    kind = type(dataset).__name__
    if layout == 'list':
        assert kind == 'ImageListDataset', kind
        if dataset.ann_file.endswith('_test.txt'):  # DomainNet split
            assert all(i['img_path'].endswith('1.jpg')
                       for i in dataset.load_data_list())
    elif layout == 'folders':
        assert kind == 'DomainFolderDataset', kind


@pytest.mark.parametrize('config', CONFIGS, ids=_config_id)
def test_config_runs_two_iterations_and_evaluates(config, data_roots,
                                                  fast_tiny_runs, tmp_path):
    variant, benchmark, backbone = _split(config)
    root = data_roots(benchmark, load_config(config))
    layout = LAYOUT.get(benchmark)
    benchmark = SETTINGS_OF.get(benchmark, benchmark)
    cfg = _tiny_cfg(config, root, str(tmp_path))
    assert len(cfg.classes) == NUM_CLASSES[benchmark]
    cfg.experiment_name = f'cfgtest-{_config_id(config)}-{id(tmp_path)}'
    runner = Runner.from_cfg(cfg)
    try:
        model = runner.model
        assert model.task_head.num_classes == NUM_CLASSES[benchmark]
        if variant == 'zeroshot':
            _check_metrics(runner.test())
            _check_eval_data(runner.test_loop.dataloader.dataset, layout)
            return
        runner.train()
        _check_metrics(runner.val_loop.run())
        _check_eval_data(runner.val_loop.dataloader.dataset, layout)
        assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))
        # the best target evaluation is kept too (official protocol: best)
        best = 'accuracy_mean' if benchmark == 'visda' else 'accuracy_top1'
        assert osp.isfile(osp.join(str(tmp_path), f'best_{best}_iter_2.pth'))
        # both domains shuffled without replacement (official loaders)
        assert type(runner.train_dataloader.sampler).__name__ == \
            'UDAInfiniteSampler'
        hub = runner.message_hub
        logged = {
            k.split('/', 1)[1]
            for k in hub.log_scalars if k.startswith('train/')
        }
        assert 'loss_cls' in logged
        assert ('loss_task' in logged) == (variant != 'source_only')
        assert ('loss_fm_task' in logged) == (variant == 'fixmatch')
        _, _, tau = _expected_lr(benchmark, backbone)
        rst = [h for h in runner.hooks if type(h).__name__ == 'RSTHook']
        if variant == 'rst':
            assert len(rst) == 1 and rst[0].tau == pytest.approx(tau)
        else:
            assert not rst
        if variant == 'fixmatch':
            fm = model.fixmatch_loss
            assert (fm.weight, fm.threshold) == pytest.approx(
                FIXMATCH.get(benchmark, (0.5, 0.95)))
    finally:
        _close_logger(cfg.experiment_name)


# ------------------------------------------------- resizing as torchvision


def _resize_transforms(cfg):
    """Every resizing/decoding transform of a config's image pipelines."""
    pipelines = [cfg.train_pipeline, cfg.test_pipeline]
    pipelines += [cfg.target_strong_pipeline] \
        if 'target_strong_pipeline' in cfg else []
    return [
        t for p in pipelines for t in p
        if t['type'] in ('Resize', 'mmpretrain.RandomResizedCrop',
                         'LoadImageFromFile')
    ]


@pytest.mark.parametrize('benchmark', BENCHMARKS)
def test_pipelines_decode_and_resize_with_pillow(benchmark):
    """The official pipelines (Wenlve-Zhou/VLP-UDA utils/data_loader.py)
    decode with PIL and resize PIL images with torchvision (antialiased when
    downscaling); every config does both with pillow."""
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs/cmkd', f'{benchmark}_rn50_fixmatch.py'))
    transforms = _resize_transforms(cfg)
    assert transforms
    for t in transforms:
        key = 'imdecode_backend' if t['type'] == 'LoadImageFromFile' \
            else 'backend'
        assert t.get(key) == 'pillow', (benchmark, t)


def _large_image(path, size=(1200, 900)):
    """A photo-like image with fine detail (aliasing shows without
    antialiasing)."""
    rng = np.random.default_rng(0)
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = 127 + 120 * np.sin(xx * 1.7 + yy * 0.3)
    noise = rng.normal(0, 25, (h, w, 3))
    img = np.clip(stripes[..., None] + noise, 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)


def _packed_rgb(out):
    """HWC RGB uint8 of a packed (BGR, CHW) mmpretrain sample."""
    return out['inputs'].numpy().transpose(1, 2, 0)[..., ::-1].astype(int)


@pytest.mark.parametrize('ext', ['png', 'jpg'])
@pytest.mark.parametrize('benchmark,size', [('officehome', 224),
                                            ('visda', 224)])
def test_test_pipeline_matches_torchvision_resize(tmp_path, benchmark, size,
                                                  ext):
    """A large image goes through the test pipeline to within one grey
    level of the official ``Resize([224, 224])`` on a PIL image
    (utils/data_loader.py of Wenlve-Zhou/VLP-UDA); the old cv2 path without
    antialiasing is far off."""
    from torchvision.transforms import Resize

    path = str(tmp_path / f'big.{ext}')
    _large_image(path)
    cfg = load_config(
        osp.join(REPO_ROOT, 'configs/cmkd', f'{benchmark}_rn50.py'))
    ours = _packed_rgb(Compose(cfg.test_pipeline)(dict(img_path=path)))
    ref = np.asarray(
        Resize([size, size])(Image.open(path).convert('RGB')), dtype=int)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1

    cv2_pipeline = [
        dict(t, backend='cv2') if t['type'] == 'Resize' else t
        for t in cfg.test_pipeline
    ]
    aliased = _packed_rgb(Compose(cv2_pipeline)(dict(img_path=path)))
    assert np.abs(aliased - ref).max() > 20


def test_train_warp_matches_torchvision_resize(tmp_path):
    """Decode + 256x256 warp of the train pipeline (before the random crop)
    equals torchvision's ``Resize([256, 256])`` within one grey level."""
    from torchvision.transforms import Resize

    path = str(tmp_path / 'big.jpg')
    _large_image(path)
    cfg = load_config(osp.join(REPO_ROOT, 'configs/cmkd/officehome_rn50.py'))
    assert cfg.train_pipeline[1]['type'] == 'Resize'
    img = Compose(cfg.train_pipeline[:2])(dict(img_path=path))['img']
    ref = np.asarray(
        Resize([256, 256])(Image.open(path).convert('RGB')), dtype=int)
    assert np.abs(img[..., ::-1].astype(int) - ref).max() <= 1


def test_digits_random_resized_crop_matches_torchvision():
    """The digits ``RandomResizedCrop`` resizes its crop as torchvision's
    ``resized_crop`` on a PIL image does (same box)."""
    from torchvision.transforms.functional import resized_crop

    from mmvlpuda.registry import TRANSFORMS

    top, left, h, w = 30, 50, 700, 900
    cfg = load_config(osp.join(REPO_ROOT, 'configs/cmkd/digits_rn50.py'))
    crop, pack = cfg.train_pipeline
    crop = TRANSFORMS.build(crop)
    crop.rand_crop_params = lambda img: (top, left, h, w)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    out = Compose([crop, pack])(dict(img=rgb[..., ::-1].copy()))
    ref = np.asarray(
        resized_crop(Image.fromarray(rgb), top, left, h, w, [224, 224]),
        dtype=int)
    assert np.abs(_packed_rgb(out) - ref).max() <= 1
