#!/usr/bin/env python3
"""Can Chen et al.'s network (at tympan's reduced width) fit 40 clips? The PyTorch side of the
check in docs/results.md ("Why Chen's network stays at chance"): 4 FSDD clips of each digit
(speaker jackson, takes 5-8), 1 s at 16 kHz, peak-normalised, zero-padded; the full batch of 40
every step; Adam; the mean of the three levels' clamped BCEs; the network is the transcription
of `scripts/bench_families.py` (`chen-resnet-small`). Prints the loss and the training accuracy
of every step.

    python3 scripts/chen_overfit.py --data ../shared/data --lr 3e-3 --steps 60
    python3 scripts/chen_overfit.py --data ../shared/data --manifest /tmp/chen/manifest.csv

`--manifest` writes the same 40 clips as a tympan CSV manifest (each clip in fold 1 to train and
again in fold 0 to test), for the tympan side of the check.
"""
import argparse
import os
import sys
import wave

import numpy as np
import torch
import torchaudio.functional as AF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_families  # noqa: E402


def clips(data):
    for d in range(10):
        for t in (5, 6, 7, 8):
            yield d, os.path.join(data, f"fsdd/recordings/{d}_jackson_{t}.wav")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--manifest", help="write the tympan manifest here and stop")
    a = ap.parse_args()
    if a.manifest:
        rows = ["path,label,fold"]
        for d, p in clips(a.data):
            p = os.path.abspath(p)
            rows += [f"{p},{d},1", f"{p},{d},0"]
        with open(a.manifest, "w") as f:
            f.write("\n".join(rows) + "\n")
        return
    torch.manual_seed(0)
    torch.set_num_threads(2)
    xs, ys = [], []
    for d, p in clips(a.data):
        w = wave.open(p)
        s = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
        s = AF.resample(torch.from_numpy(s / 32768), w.getframerate(), 16000)[:16000]
        s = torch.nn.functional.pad(s, (0, 16000 - s.numel()))
        xs.append(s / s.abs().max())
        ys.append(torch.nn.functional.one_hot(torch.tensor(d), 10).float())
    x, y = torch.stack(xs).unsqueeze(1), torch.stack(ys)
    model = bench_families.chen_resnet_small(10)
    model.train()
    opt = torch.optim.Adam(model.parameters(), a.lr)
    bce = torch.nn.BCELoss()
    for i in range(a.steps):
        levels = model(x)
        loss = sum(bce(torch.clamp(p, 1e-7, 1 - 1e-7), y) for p in levels) / len(levels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        acc = (sum(levels).argmax(1) == y.argmax(1)).float().mean().item()
        print(f"step {i + 1}: loss {loss.item():.4f} training accuracy {acc:.2f}", flush=True)


if __name__ == "__main__":
    main()
