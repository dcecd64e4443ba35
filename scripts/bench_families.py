#!/usr/bin/env python3
"""A tympan model's training step in PyTorch, timed: the reference side of
`cargo xtask bench train --arch NAME`.

Each network is a transcription of the tympan model of the same registry name, layer for layer,
and the Rust side prints both parameter counts so that a difference shows:

- `hershey-vgg`: Hershey et al. (ICASSP 2017) Sec. 3, VGG configuration E with BatchNorm on
  96x64 log-mel patches; crates/tympan-models/src/hershey/mod.rs (`HersheyArch::Vgg`): 3x3
  conv-BN-ReLU stages of 64/128/256/512/512 channels (2/2/4/4/4 convs), 2x2 max pooling after
  each, two 4096-unit ReLU layers, a linear output; sigmoid scores (`Tagger::forward`).
- `hershey-resnet50`: the same paper's ResNet-50; torchvision's ResNet-50 with one input channel
  and a stride-1 7x7 stem (tympan's `ResNetConfig::with_stem_stride(1)`), global mean pooling,
  a linear output; sigmoid scores.

- `m34-res-rb1`: Dai et al.'s M34-res with Naranjo-Alcazar et al.'s RB1 blocks on 4 s of 8 kHz
  waveform, softmax outputs (crates/tympan-models/src/rawwave/dai.rs, residual.rs);
- `slim2d-rb1`: Naranjo-Alcazar et al.'s slim 2D network with RB1 blocks on their 64 x 199
  log-mel input (rawwave/slim2d.rs), softmax outputs;
- `densenet-logmel`: Jeong & Lim's DenseNet with the paper's growth (16, 32, ..., 512, 512, 512),
  8 softmax heads and the in-graph log-mel at 44.1 kHz on 64,000-sample crops
  (dcase/densenet.rs).
  These three are the transcriptions `scripts/generate_reference.py` checks tympan's forwards
  against (its `_rawwave_nets` and `_densenet`, golden tests in tests/golden_models.rs), imported
  from there, so the timed network is the one whose outputs were compared.

- `chen-resnet-small`: Chen et al.'s 1D ResNet-18 -> 2D ResNet with multi-level attention at
  the registry's reduced width (a 64-channel front end, one bottleneck per ResNet stage), on 10 s
  of 16 kHz waveform (crates/tympan-models/src/rawwave/chen.rs): a 7-wide stride-4 stem, basic
  blocks of 3-wide convs with widths (16, 32, 48, 64) and strides (1, 2, 2, 4), the output
  `[B, 64, 2500]` as a one-channel image for torchvision's ResNet (one-channel stem), and after
  stages 2, 3 and 4 a level that pools frequency, applies two sigmoid attention poolings over
  time (one on the stage output, one after two 600-unit ReLU layers) and maps their
  concatenation to sigmoid scores. The loss is the mean of the three levels' BCEs (their
  eq. (3)), as tympan trains it.

The step is `bench_train_step.py`'s: Adam (lr 1e-4, betas (0.95, 0.999), weight decay 5e-7);
clamped BCE on sigmoid scores, or, for the softmax models, cross-entropy on the clamped
probabilities (tympan's `ce_on_probs_per_sample`, as `cargo xtask bench train` uses for them).
Inputs are random; only time is measured.

Prints one JSON line: {"arch", "times", "threads", "torch", "params", "input", "classes"}.
"""

import argparse
import json
import time

from bench_memory import peak_rss_mib  # scripts/, beside this script


def vgg_e(classes):
    import torch.nn as nn

    layers, cin = [], 1
    for c, n in [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]:
        for _ in range(n):
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
            cin = c
        layers.append(nn.MaxPool2d(2, 2))
    # 96x64 -> 3x2 after five 2x2 poolings.
    return nn.Sequential(
        nn.Unflatten(1, (1, 96)), *layers, nn.Flatten(),
        nn.Linear(512 * 3 * 2, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, classes), nn.Sigmoid())


def resnet50(classes):
    import torch.nn as nn
    import torchvision

    net = torchvision.models.resnet50(num_classes=classes)
    net.conv1 = nn.Conv2d(1, 64, 7, stride=1, padding=3, bias=False)
    return nn.Sequential(nn.Unflatten(1, (1, 96)), net, nn.Sigmoid())


def _reference():
    """scripts/generate_reference.py, for its transcriptions."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import generate_reference

    return generate_reference


class _Softmax:
    """Wraps a logits network: softmax probabilities, as tympan's `Tagger::forward`."""

    def __new__(cls, net, to_image=False):
        import torch.nn as nn

        class Wrapped(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, x):
                if to_image:  # tympan's [B, T, F] features -> [B, 1, F, T]
                    x = x.transpose(1, 2).unsqueeze(1)
                return self.net(x).softmax(dim=1)

        return Wrapped()


def m34_res_rb1(classes):
    import torch

    m34, _ = _reference()._rawwave_nets(torch)
    return _Softmax(m34(1, classes))


def slim2d_rb1(classes):
    import torch

    _, slim = _reference()._rawwave_nets(torch)
    return _Softmax(slim(1, classes), to_image=True)


def densenet_logmel(classes):
    import torch

    return _reference()._densenet(torch, [16, 32, 64, 128, 256, 512, 512, 512], classes, 8, 44100)


def chen_resnet_small(classes):
    import torch
    import torch.nn as nn
    import torchvision

    class Basic1d(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv1d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm1d(cout)
            self.conv2 = nn.Conv1d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm1d(cout)
            proj = stride != 1 or cin != cout
            self.down = nn.Sequential(nn.Conv1d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm1d(cout)) if proj else None

        def forward(self, x):
            skip = self.down(x) if self.down is not None else x
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + skip)

    class TimeAttention(nn.Module):
        def __init__(self, cin, k):
            super().__init__()
            self.att = nn.Conv1d(cin, k, 1)
            self.cla = nn.Conv1d(cin, k, 1)

        def forward(self, x):
            att = torch.sigmoid(self.att(x)).clamp(1e-7, 1.0 - 1e-7)
            cla = torch.sigmoid(self.cla(x))
            return (att / att.sum(2, keepdim=True) * cla).sum(2)

    class Level(nn.Module):
        def __init__(self, cin, k):
            super().__init__()
            self.att_direct = TimeAttention(cin, k)
            self.fc1 = nn.Linear(cin, 600)
            self.fc2 = nn.Linear(600, 600)
            self.att_fc = TimeAttention(600, k)
            self.out = nn.Linear(2 * k, k)

        def forward(self, x):  # [B, C, F, T]
            x = x.mean(2)
            a = self.att_direct(x)
            h = torch.relu(self.fc2(torch.relu(self.fc1(x.transpose(1, 2)))))
            b = self.att_fc(h.transpose(1, 2))
            return torch.sigmoid(self.out(torch.cat([a, b], 1)))

    class Chen(nn.Module):
        def __init__(self, k, c=64, front_stride=64):
            super().__init__()
            widths = [c // 4, c // 2, 3 * c // 4, c]
            strides = [front_stride // 64, 2, 2, 4]
            self.stem = nn.Conv1d(1, widths[0], 7, 4, 3, bias=False)
            self.stem_bn = nn.BatchNorm1d(widths[0])
            blocks, cin = [], widths[0]
            for w, st in zip(widths, strides):
                blocks += [Basic1d(cin, w, st), Basic1d(w, w, 1)]
                cin = w
            self.front = nn.Sequential(*blocks)
            r = torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck,
                                                 [1, 1, 1, 1])
            r.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
            r.fc = None  # tympan's trunk has no ImageNet classifier
            self.resnet = r
            self.levels = nn.ModuleList(Level(ch, k) for ch in (512, 1024, 2048))

        def forward(self, wave):  # [B, 1, N] -> the three levels' scores
            x = self.front(torch.relu(self.stem_bn(self.stem(wave))))
            r = self.resnet
            y = r.maxpool(r.relu(r.bn1(r.conv1(x.unsqueeze(1)))))
            s2 = r.layer2(r.layer1(y))
            s3 = r.layer3(s2)
            s4 = r.layer4(s3)
            return [lv(s) for lv, s in zip(self.levels, (s2, s3, s4))]

    return Chen(classes)


# name: (builder, input shape without the batch, loss on the outputs)
ARCHS = {
    "hershey-vgg": (vgg_e, (96, 64), "bce"),
    "hershey-resnet50": (resnet50, (96, 64), "bce"),
    "m34-res-rb1": (m34_res_rb1, (1, 32000), "ce"),
    "slim2d-rb1": (slim2d_rb1, (199, 64), "ce"),
    "densenet-logmel": (densenet_logmel, (1, 64000), "ce"),
    "chen-resnet-small": (chen_resnet_small, (1, 160000), "bce-levels"),
}



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(ARCHS))
    ap.add_argument("--classes", type=int, default=527)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iters", type=int, default=3, help="timed steps after one warm-up step")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--inference", action="store_true",
                    help="time forward passes in eval mode under torch.no_grad() instead")
    a = ap.parse_args()

    import torch

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    build, shape, loss_kind = ARCHS[a.arch]
    model = build(a.classes)
    model.train()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.Adam(model.parameters(), 1e-4, weight_decay=5e-7,
                                 betas=(0.95, 0.999))
    bce = torch.nn.BCELoss()
    times = []
    if a.inference:
        model.eval()
        with torch.no_grad():
            for i in range(a.iters + 1):
                x = torch.randn(a.batch, *shape)
                t = time.perf_counter()
                out = model(x)
                if isinstance(out, (list, tuple)):  # Chen et al.: the mean of the levels, as
                    out = sum(out) / len(out)  # tympan's `ChenNet::forward`
                float(out.sum())
                if i > 0:
                    times.append(time.perf_counter() - t)
    else:
        for i in range(a.iters + 1):
            x = torch.randn(a.batch, *shape)
            if loss_kind.startswith("bce"):
                y = (torch.rand(a.batch, a.classes) < 0.02).float()
            else:
                y = torch.zeros(a.batch, a.classes)
                for b in range(a.batch):
                    y[b, (b * 7 + i * 3) % a.classes] = 1.0
            t = time.perf_counter()
            if loss_kind == "bce-levels":  # Chen et al.: the mean of the per-level losses
                levels = model(x)
                loss = sum(bce(torch.clamp(p, 1e-7, 1.0 - 1e-7), y) for p in levels) / len(levels)
            elif loss_kind == "bce":
                loss = bce(torch.clamp(model(x), 1e-7, 1.0 - 1e-7), y)
            else:
                loss = -(y * torch.clamp(model(x), 1e-7, 1.0).log()).sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()
            if i > 0:
                times.append(time.perf_counter() - t)
    # Whole-process peak resident memory (interpreter and torch included), in MiB.
    peak = peak_rss_mib()
    print(json.dumps(dict(arch=a.arch, times=times, threads=torch.get_num_threads(),
                          torch=torch.__version__, params=params, input=[a.batch, *shape],
                          classes=a.classes, peak_rss_mib=peak)))


if __name__ == "__main__":
    main()
