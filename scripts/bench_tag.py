#!/usr/bin/env python3
"""Tagging in PyTorch, timed: the reference side of `cargo xtask bench tag`.

PSLA's own `EffNetAttention` (src/models/Models.py of a clone of
https://github.com/YuanGongND/psla, pass --psla-src) in eval mode on each 16 kHz WAV of --clips:
read the file, PSLA's dataloader in eval mode (src/dataloaders/audioset_dataset.py `_wav2fbank`:
mean removal, torchaudio's kaldi.fbank with 128 bins, 10 ms hop, Hanning window, no dither,
zero-padded or cut to 1056 frames, normalised with the AudioSet mean and std), one forward under
torch.no_grad(), sigmoid scores. Files are read with the `wave` module (int16 / 32768, exactly
torchaudio.load's scaling), as `cargo xtask bench frontend` does.

The model is PSLA's B<b> with 4 heads from torch.manual_seed(0), not trained: only time and
agreement are measured. Its state dict is written to --weights-out (a plain zip archive, which
burn-store reads; scripts/rezip_pth.py says why) so that `tympan tag` scores the same files with
the same weights, and the scores to --scores-out as float32 [files, classes] in sorted file order.

Prints one JSON line: {"seconds": loop time, "clips": N, "torch": version, "threads": N}.
The time covers the files only (after imports and model construction, with one warm-up file).
"""

import argparse
import io
import json
import sys
import time
import wave
import zipfile
from pathlib import Path

from bench_memory import peak_rss_mib  # scripts/, beside this script

MEAN, STD, FRAMES = -4.6476, 4.5699, 1056


def save_plain_zip(state_dict, path):
    import torch

    buf = io.BytesIO()
    torch.save(state_dict, buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as zi, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))


def fbank(path):
    import numpy as np
    import torch
    import torchaudio.compliance.kaldi as kaldi

    with wave.open(str(path), "rb") as w:
        sr = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    waveform = torch.from_numpy(x.astype(np.float32) / 32768.0)[None, :]
    waveform = waveform - waveform.mean()
    fb = kaldi.fbank(waveform, htk_compat=True, sample_frequency=sr, use_energy=False,
                     window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)
    p = FRAMES - fb.shape[0]
    fb = torch.nn.ZeroPad2d((0, 0, 0, p))(fb) if p > 0 else fb[:FRAMES]
    return (fb - MEAN) / STD



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--psla-src", required=True, help="a clone of YuanGongND/psla")
    ap.add_argument("--clips", required=True, help="a folder of .wav files")
    ap.add_argument("--weights-out", required=True, help="where to write the state dict (.pth)")
    ap.add_argument("--scores-out", required=True, help="where to write the scores (.npy)")
    ap.add_argument("--b", type=int, default=2, help="EfficientNet-B<b>")
    ap.add_argument("--classes", type=int, default=527)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()

    import numpy as np
    import torch

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    sys.path.insert(0, str(Path(a.psla_src) / "src"))
    from models.Models import EffNetAttention  # PSLA's model definition (not vendored)

    torch.manual_seed(0)
    model = EffNetAttention(label_dim=a.classes, b=a.b, pretrain=False, head_num=4)
    model.eval()
    save_plain_zip(model.state_dict(), a.weights_out)
    files = sorted(Path(a.clips).glob("*.wav"))
    if not files:
        sys.exit(f"no .wav files in {a.clips}")

    def tag(f):
        with torch.no_grad():
            return model(fbank(f)[None]).numpy()[0]

    tag(files[0])  # warm-up
    t = time.perf_counter()
    scores = [tag(f) for f in files]
    seconds = time.perf_counter() - t
    np.save(a.scores_out, np.stack(scores).astype(np.float32))
    # Whole-process peak resident memory (interpreter and torch included), in MiB.
    peak = peak_rss_mib()
    print(json.dumps(dict(seconds=seconds, clips=len(files), torch=torch.__version__,
                          threads=torch.get_num_threads(), peak_rss_mib=peak)))


if __name__ == "__main__":
    main()
