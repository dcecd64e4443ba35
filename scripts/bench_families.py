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

The step is `bench_train_step.py`'s: Adam (lr 1e-4, betas (0.95, 0.999), weight decay 5e-7),
clamped BCE on sigmoid scores. Inputs are random; only time is measured.

Prints one JSON line: {"arch", "times", "threads", "torch", "params", "input", "classes"}.
"""

import argparse
import json
import time


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


ARCHS = {"hershey-vgg": (vgg_e, (96, 64)), "hershey-resnet50": (resnet50, (96, 64))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(ARCHS))
    ap.add_argument("--classes", type=int, default=527)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iters", type=int, default=3, help="timed steps after one warm-up step")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()

    import torch

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    build, shape = ARCHS[a.arch]
    model = build(a.classes)
    model.train()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.Adam(model.parameters(), 1e-4, weight_decay=5e-7,
                                 betas=(0.95, 0.999))
    loss_fn = torch.nn.BCELoss()
    times = []
    for i in range(a.iters + 1):
        x = torch.randn(a.batch, *shape)
        y = (torch.rand(a.batch, a.classes) < 0.02).float()
        t = time.perf_counter()
        out = torch.clamp(model(x), 1e-7, 1.0 - 1e-7)
        loss = loss_fn(out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
        if i > 0:
            times.append(time.perf_counter() - t)
    print(json.dumps(dict(arch=a.arch, times=times, threads=torch.get_num_threads(),
                          torch=torch.__version__, params=params, input=[a.batch, *shape],
                          classes=a.classes)))


if __name__ == "__main__":
    main()
