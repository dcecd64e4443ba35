#!/usr/bin/env python3
"""Tagging in PyTorch with a family's transcription, timed: the reference side of
`cargo xtask bench tag --arch NAME` for the non-PSLA families.

The network is `bench_families.py`'s transcription of the tympan model of the same registry name
(the ones `cargo xtask bench train` times), in eval mode under torch.no_grad(). The input follows
the `card.json` of the run folder that `tympan tag --run` reads (--run), with the arithmetic a
PyTorch user would write, in float32:

- each 16-bit WAV of --clips is read with the `wave` module (int16 / 32768, torchaudio.load's
  scaling) and resampled to the card's rate with torchaudio.functional.resample (tympan uses its
  own resampler, so the resampled samples differ: the DenseNet's scores 4.9e-3 apart from 16 kHz
  clips, 6.3e-7 from 44.1 kHz ones, 2026-12-07);
- windows of the card's input back to back from the start, as `tympan tag` cuts them
  (crates/tympan-infer/src/scorer.rs): a window starts every window length until one reaches the
  clip's end, and a last window shorter than one frame (features) is dropped;
- `waveform` input: the window zero-padded at the end (centred with `pad_both`), scaled to unit
  peak first with `peak_normalise`, then the card's `wave_norm`;
  `slim2d`: torchaudio's MelSpectrogram (320-point frames every 160 samples, not centred, power
  2, 64 Slaney mel bands), 10 log10(max(x, 1e-10)), each band standardised over the window's
  frames (population std), zero-padded to the card's length;
  `vggish`: the whole clip's log-mel as VGGish's own `vggish_input.py` / `mel_features.py`
  compute it, in torch (400-sample periodic Hann frames every 160, zero-padded to a 512-point
  magnitude FFT, VGGish's 64-band mel matrix over 125-7500 Hz, ln(x + 0.01)), cut into
  96-frame patches;
  features are then normalised with the card's (mean, std);
- the card's `eval_batch_size` windows per forward pass (fewer for large windows: at most 2^18
  input values), the windows of consecutive files sharing passes as `tympan tag` shares them
  (crates/tympan-infer/src/files.rs; VGGish input: that many patches, whole clips at a time),
  the clip score the mean over its windows (Chen et al.'s network: the mean of its three levels'
  scores, as tympan's `ChenNet::forward`).

The model is built from torch.manual_seed(0) and not trained: only time (and, where tympan loads
the same weights, agreement) is measured. Its state dict goes to --weights-out (a plain zip
archive, which burn-store reads) under tympan's parameter names (`tympan_state`), and the scores
to --scores-out as float32 [files, classes] in sorted file order.

Prints one JSON line: {"seconds", "seconds_per_file", "clips", "windows", "torch", "threads",
"peak_rss_mib"}: the files with windows shared across files, and again with each file's windows
in passes of their own (a plain loop over files; with windows shared 16 at a time, PyTorch ran
Chen et al.'s network 1.5x slower than that), so that the comparison takes PyTorch's faster
loop. The times cover the files only (after imports and model construction, one warm-up file).
"""

import argparse
import json
import sys
import time
import wave
from pathlib import Path

from bench_families import ARCHS  # scripts/, beside this script
from bench_memory import peak_rss_mib
from bench_tag import save_plain_zip


def read_wav(path):
    import numpy as np

    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            sys.exit(f"{path}: expected 16-bit mono")
        sr = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return x.astype(np.float32) / 32768.0, sr


def vggish_bank(rate):
    """VGGish's mel matrix (mel_features.py `spectrogram_to_mel_matrix`: triangles in mel,
    64 bands 125-7500 Hz over a 512-point FFT's bins, the DC bin zero), [257, 64]."""
    import numpy as np

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    bins = mel(np.linspace(0.0, rate / 2, 257))
    edges = np.linspace(mel(125.0), mel(7500.0), 66)
    w = np.empty((257, 64))
    for i in range(64):
        lo, c, hi = edges[i:i + 3]
        w[:, i] = np.maximum(0.0, np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)))
    w[0, :] = 0.0
    return w


class Frontend:
    """The card's input contract, in PyTorch."""

    def __init__(self, card):
        import torch
        import torchaudio

        c = card["input"]
        self.kind, self.rate, self.length = c["input"], c["sample_rate"], c["length"]
        self.mean, self.std = c["mean"], c["std"]
        self.wave_norm = c.get("wave_norm", "none")
        self.peak = c.get("peak_normalise", False)
        self.pad_both = c.get("pad_both", False)
        # Windows per pass: the card's batch, fewer for large windows, as `tympan tag` sizes
        # its passes (crates/tympan-infer/src/files.rs, PASS_VALUES: at most 2^18 input values).
        values = self.length * (1 if self.kind == "waveform" else 64)
        self.batch = min(card["eval_batch_size"], max(1, (1 << 18) // values))
        if self.kind == "slim2d":
            self.frame, self.hop = int(self.rate * 0.04), int(self.rate * 0.02)
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=self.rate, n_fft=self.frame, win_length=self.frame,
                hop_length=self.hop, f_min=0.0, f_max=self.rate / 2, n_mels=64,
                window_fn=torch.hann_window, power=2.0, center=False, norm="slaney",
                mel_scale="slaney")
        elif self.kind == "vggish":
            self.hann = torch.hann_window(400)  # periodic
            self.bank = torch.from_numpy(vggish_bank(self.rate)).float()
        elif self.kind != "waveform":
            sys.exit(f"input {self.kind!r}: this script covers waveform, slim2d and vggish")

    def window(self):
        """Samples per window and the fewest a window may hold; None for whole clips."""
        if self.kind == "vggish":
            return None
        if self.kind == "waveform":
            return self.length, 1
        return (self.length - 1) * self.hop + self.frame, self.frame

    def inputs(self, x):
        """The model inputs of one clip (a float32 tensor at the card's rate)."""
        import torch

        geometry = self.window()
        if geometry is None:  # VGGish: the clip's 96-frame patches
            frames = x.unfold(0, 400, 160) * self.hann  # 400 samples, zero-padded to 512
            logmel = torch.log(torch.fft.rfft(frames, n=512).abs() @ self.bank + 0.01)
            n = logmel.shape[0] // self.length
            patches = logmel[: n * self.length].reshape(n, self.length, 64)
            return (patches - self.mean) / self.std
        win, least = geometry
        out, start = [], 0
        while True:
            if len(x) - start >= least or start == 0:
                out.append(self.one(x[start:start + win]))
            if start + win >= len(x):
                break
            start += win
        return torch.stack(out)

    def one(self, w):
        import torch

        if self.kind == "waveform":
            if self.peak:
                w = w / w.abs().max().clamp(min=1e-12) if w.abs().max() > 0 else w
            x = torch.zeros(self.length)
            n = min(len(w), self.length)
            at = (self.length - n) // 2 if self.pad_both and len(w) < self.length else 0
            x[at:at + n] = w[:n]
            if self.wave_norm == "scale-max":
                m = x.abs().max()
                x = x / m if m > 0 else x
            elif self.wave_norm == "zero-mean-unit-std":
                s = x.std(unbiased=False)
                x = (x - x.mean()) / s if s > 0 else x
            return x[None]  # [1, N]
        f = 10.0 * torch.log10(torch.clamp(self.mel(w), min=1e-10)).T  # [T, 64]
        s = f.std(0, unbiased=False, keepdim=True)
        f = torch.where(s > 0, (f - f.mean(0, keepdim=True)) / s, torch.zeros_like(f))
        out = torch.zeros(self.length, 64)
        out[: min(len(f), self.length)] = f[: self.length]
        return (out - self.mean) / self.std


def tympan_state(arch, model):
    """The transcription's state dict under tympan's parameter names (burn-store maps
    BatchNorm's weight/bias to gamma/beta itself), so that `tympan tag` runs the same weights."""
    import torch.nn as nn

    state = {}

    def put(prefix, module):
        for k, v in module.state_dict().items():
            state[f"{prefix}.{k}"] = v

    if arch == "hershey-vgg":  # Sequential: conv-BN-ReLU triples and poolings, then the MLP
        feature, conv = 0, None
        for m in model:
            if isinstance(m, nn.Conv2d):
                conv = m
            elif isinstance(m, nn.BatchNorm2d):
                put(f"features.{feature}.conv", conv)
                put(f"features.{feature}.bn", m)
                feature += 1
            elif isinstance(m, nn.MaxPool2d):
                feature += 1  # tympan's feature list holds the poolings too
        linears = [m for m in model if isinstance(m, nn.Linear)]
        for i, m in enumerate(linears):
            put("out" if i == len(linears) - 1 else f"fc.{i}", m)
        return state
    if arch == "hershey-resnet50":  # torchvision's ResNet between a reshape and the sigmoid
        for k, v in model[1].state_dict().items():
            state["out." + k[3:] if k.startswith("fc.") else "resnet." + k] = v
        return state
    if hasattr(model, "net"):  # bench_families' softmax wrapper
        model = model.net
    for k, v in model.state_dict().items():
        # torchaudio's constant buffers (the STFT window, the mel bank): tympan's in-graph
        # log-mel computes its own.
        if k.endswith(("spectrogram.window", "mel_scale.fb")):
            continue
        if arch == "chen-resnet-small":  # the 1D projection shortcut: Sequential(conv, BN)
            k = k.replace(".down.0.", ".down.").replace(".down.1.", ".down_bn.")
        state[k] = v
    return state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(ARCHS))
    ap.add_argument("--run", required=True, help="the run folder whose card.json to follow")
    ap.add_argument("--clips", required=True, help="a folder of .wav files")
    ap.add_argument("--weights-out", required=True, help="where to write the state dict (.pth)")
    ap.add_argument("--scores-out", required=True, help="where to write the scores (.npy)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()

    import numpy as np
    import torch
    import torchaudio.functional as AF

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    card = json.loads((Path(a.run) / "card.json").read_text())
    if card["arch"] != a.arch:
        sys.exit(f"{a.run}: card.json is for {card['arch']}, not {a.arch}")
    front = Frontend(card)
    torch.manual_seed(0)
    model = ARCHS[a.arch][0](len(card["classes"]))
    model.eval()
    save_plain_zip(tympan_state(a.arch, model), a.weights_out)
    files = sorted(Path(a.clips).glob("*.wav"))
    if not files:
        sys.exit(f"no .wav files in {a.clips}")
    # Windows wait in one queue until a batch is ready, whatever file they come from, as
    # `tympan tag` queues them (crates/tympan-infer/src/files.rs): (file, inputs [examples, ...]).
    queue, per_file = [], {}
    seen = [0]  # model inputs of the last loop: windows, or a VGGish model's patches

    def flush():
        if not queue:
            return
        examples = torch.cat([x for _, x in queue])
        seen[0] += len(examples)
        rows = []
        with torch.no_grad():
            for i in range(0, len(examples), front.batch):
                out = model(examples[i:i + front.batch])
                if isinstance(out, (list, tuple)):  # Chen et al.: the mean of the levels
                    out = sum(out) / len(out)
                rows.append(out)
        rows = torch.cat(rows)
        at = 0
        for f, x in queue:  # an input's score: the mean over its examples (VGGish patches)
            per_file.setdefault(f, []).append(rows[at:at + len(x)].mean(0))
            at += len(x)
        queue.clear()

    def tag(f, path):
        x, sr = read_wav(path)
        x = torch.from_numpy(x)
        if front.rate is not None and sr != front.rate:
            x = AF.resample(x, sr, front.rate)
        with torch.no_grad():
            inputs = front.inputs(x)
        if front.kind == "vggish":
            queue.append((f, inputs))  # the whole clip is one input
        else:
            queue.extend((f, w[None]) for w in inputs)
        if sum(len(x) for _, x in queue) >= front.batch:
            flush()

    def timed(shared):
        """Seconds for all files, and the clip scores; windows share passes across files only
        when `shared` (otherwise each file's windows go alone, as a plain per-file loop does)."""
        per_file.clear()
        seen[0] = 0
        t = time.perf_counter()
        for i, path in enumerate(files):
            tag(i, path)
            if not shared:
                flush()
        flush()
        seconds = time.perf_counter() - t
        return seconds, [torch.stack(per_file[i]).mean(0).numpy() for i in range(len(files))]

    tag(0, files[0])  # warm-up
    flush()
    alone_s, _ = timed(shared=False)
    seconds, scores = timed(shared=True)
    windows = seen[0]
    np.save(a.scores_out, np.stack(scores).astype(np.float32))
    print(json.dumps(dict(seconds=seconds, seconds_per_file=alone_s, clips=len(files),
                          windows=windows,
                          torch=torch.__version__, threads=torch.get_num_threads(),
                          peak_rss_mib=peak_rss_mib())))


if __name__ == "__main__":
    main()
