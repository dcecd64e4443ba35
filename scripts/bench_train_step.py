#!/usr/bin/env python3
"""PSLA's training step in PyTorch, timed: the reference side of `cargo xtask bench train`.

The step is PSLA's src/traintest.py train() loop body: EffNetAttention forward on a
[B, 1056, 128] fbank batch, outputs clamped to [1e-7, 1 - 1e-7], BCELoss, zero_grad, backward,
Adam (lr 1e-4, weight decay 5e-7, betas (0.95, 0.999)). The model is PSLA's own
src/models/Models.py (pass --psla-src, a clone of https://github.com/YuanGongND/psla), trained
from scratch (ImageNet weights make no difference to the time). Inputs are random, as on the Rust
side; only time is measured.

Prints one JSON line: {"times": [...seconds per step...], "threads": N, "torch": version}.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from bench_memory import peak_rss_mib  # scripts/, beside this script


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--psla-src", required=True, help="a clone of YuanGongND/psla")
    ap.add_argument("--b", type=int, default=2, help="EfficientNet-B<b>")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--classes", type=int, default=527)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--frames", type=int, default=1056)
    ap.add_argument("--iters", type=int, default=3, help="timed steps after one warm-up step")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    a = ap.parse_args()

    import torch

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    sys.path.insert(0, str(Path(a.psla_src) / "src"))
    from models.Models import EffNetAttention  # PSLA's model definition (not vendored)

    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = EffNetAttention(label_dim=a.classes, b=a.b, pretrain=False, head_num=a.heads).to(dev)
    model.train()
    trainables = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainables, 1e-4, weight_decay=5e-7, betas=(0.95, 0.999))
    loss_fn = torch.nn.BCELoss()
    times = []
    for i in range(a.iters + 1):
        x = torch.randn(a.batch, a.frames, 128, device=dev)
        y = (torch.rand(a.batch, a.classes, device=dev) < 0.02).float()
        t = time.perf_counter()
        out = model(x)
        out = torch.clamp(out, 1e-7, 1.0 - 1e-7)
        loss = loss_fn(out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()  # waits for the device, so the time covers the whole step
        if i > 0:
            times.append(time.perf_counter() - t)
    # Whole-process peak resident memory (interpreter and torch included), in MiB.
    peak = peak_rss_mib()
    print(json.dumps(dict(times=times, threads=torch.get_num_threads(), torch=torch.__version__,
                          device=str(dev), peak_rss_mib=peak)))


if __name__ == "__main__":
    main()
