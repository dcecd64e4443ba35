#!/usr/bin/env python3
"""Write the golden fixtures in tests/fixtures/ from the Python references tympan claims to match.

    pip install torch==2.11.0 torchaudio==2.11.0 torchvision==0.26.0 efficientnet_pytorch==0.7.1 \
        scikit-learn scipy numpy soundfile pillow
    git clone https://github.com/YuanGongND/psla /tmp/psla
    python3 scripts/generate_reference.py --data-dir ../shared/data --psla-src /tmp/psla

torchaudio and torch must be the same minor version (torchaudio refuses mismatched CUDA builds).
`cargo test` never runs Python; it reads what this script committed. Each fixture records its
reference and the tolerance the Rust test applies (see tests/README.md).

References:
  fbank/           torchaudio.compliance.kaldi.fbank on real clips, default + 10 option sets
  presets/psla*    PSLA's dataloader eval path (src/dataloaders/audioset_dataset.py, _wav2fbank)
  presets/slim2d, presets/dcase-densenet
                   torchaudio.transforms.MelSpectrogram(norm="slaney", mel_scale="slaney",
                   center=True (dcase-densenet) / False (slim2d), pad_mode="constant")
                   + 10*log10(max(x, 1e-10)), which equals librosa.feature.melspectrogram
                   + power_to_db(top_db=None)
  presets/vggish   a numpy transcription of VGGish's mel_features.py / vggish_input.py
  audio/           WAV/FLAC/OGG/MP3 written with soundfile; expected samples as torchaudio.load
  metrics.json     sklearn average_precision_score / roc_auc_score / precision_recall_curve /
                   roc_curve, scipy norm.ppf
  psla_stats/      PSLA's src/utilities/stats.py calculate_stats (what its traintest.py pickles)
                   on a 2,300 x 3 score matrix
  sampling/        PSLA's src/gen_weight_file.py (Algorithm 1) on the real balanced segment list
  models/rawwave*  M34-res and the slim 2D network (RB1, RB5, RB6) as PyTorch transcriptions of the
                   papers (_rawwave_nets), random weights, on a real UrbanSound8K clip
  models/densenet* densenet-logmel-small-16k against a PyTorch transcription (_densenet) with
                   torchaudio's log-mel, on a real clip's samples
  enhance/         PSLA's src/label_enhancement/fix_type2.py (Type II) on the real ontology.json and
                   balanced segment list, with a synthetic teacher the Rust test recomputes
  models/          PSLA's EffNetAttention (its own src/models/Models.py, from --psla-src) on
                   efficientnet_pytorch 0.7.1: state dict, input fbanks, features and scores
"""

import argparse
import json
import math
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"


def read_wav_pcm16(path):
    """torchaudio.load semantics for 16-bit PCM: int16 / 32768, first channel kept separately."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, path
        n, ch, sr = w.getnframes(), w.getnchannels(), w.getframerate()
        data = np.frombuffer(w.readframes(n), dtype="<i2").reshape(-1, ch)
    return data.astype(np.float32).T / 32768.0, sr


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


# ----------------------------------------------------------------------------------------- fbank
CLIPS = {
    "fsdd_0_george_0": "fsdd/recordings/0_george_0.wav",
    "fsdd_7_theo_3": "fsdd/recordings/7_theo_3.wav",
    "us8k_101415-3-0-2": "urbansound8k/UrbanSound8K/audio/fold1/101415-3-0-2.wav",
    "audioset_R9_ZSCveAHg": "audioset/R9_ZSCveAHg_7s.wav",
}

OPTION_SETS = {
    "defaults": {},
    "psla_like": dict(htk_compat=True, use_energy=False, window_type="hanning", num_mel_bins=128,
                      dither=0.0, frame_shift=10.0),
    "hamming_noSnip_50ms": dict(window_type="hamming", snip_edges=False, frame_length=50.0,
                                frame_shift=12.5),
    "povey_energy_notRaw": dict(use_energy=True, raw_energy=False, energy_floor=0.0),
    "blackman_energy_htk": dict(window_type="blackman", blackman_coeff=0.5, use_energy=True,
                                htk_compat=True, energy_floor=2.0),
    "rect_noPow2_noDC_noPreemph": dict(window_type="rectangular", round_to_power_of_two=False,
                                       remove_dc_offset=False, preemphasis_coefficient=0.0),
    "band_100_to_nyq-500_40bins": dict(low_freq=100.0, high_freq=-500.0, num_mel_bins=40),
    "band_60_to_3000": dict(low_freq=60.0, high_freq=3000.0, num_mel_bins=30),
    "linear_magnitude": dict(use_log_fbank=False, use_power=False),
    "subtract_mean_vtln": dict(subtract_mean=True, vtln_warp=0.9),
    "noSnip_energy_hanning": dict(snip_edges=False, use_energy=True, window_type="hanning",
                                  raw_energy=True, num_mel_bins=64),
}

# Which option sets run on which clips (all sets on an 8 kHz clip; a subset on the others).
PLAN = {
    "fsdd_0_george_0": list(OPTION_SETS),
    "fsdd_7_theo_3": ["defaults", "hamming_noSnip_50ms", "povey_energy_notRaw"],
    "us8k_101415-3-0-2": ["defaults", "psla_like", "blackman_energy_htk", "linear_magnitude",
                          "noSnip_energy_hanning"],
    "audioset_R9_ZSCveAHg": ["defaults", "psla_like", "band_100_to_nyq-500_40bins",
                             "subtract_mean_vtln"],
}


def gen_fbank(data):
    import torch
    import torchaudio.compliance.kaldi as kaldi

    entries = []
    for clip, rel in CLIPS.items():
        wav, sr = read_wav_pcm16(data / rel)
        wav = torch.from_numpy(wav[:1].copy())
        for name in PLAN[clip]:
            opts = dict(OPTION_SETS[name])
            opts["sample_frequency"] = float(sr)
            # torchaudio's fbank runs in the dtype of its input. In float64 it is the exact
            # algorithm (tympan computes in f64 too): tolerance 1e-4. In float32, as PSLA runs it,
            # FFT rounding noise (relative to a frame's loudest bin) moves near-silent log-mel bins
            # by up to ~1e-3, so the float32 run is checked at 2e-3 on a subset.
            runs = [("float64", torch.float64, 1e-4)]
            if name in ("defaults", "psla_like"):
                runs.append(("float32", torch.float32, 2e-3))
            # torchaudio's float32 mel bank takes log/exp from torch's vectorised CPU kernels,
            # which are 1 ulp off a correctly rounded result for ~7 % of inputs (measured here:
            # the bank then matches ours bit for bit). Where a near-empty band makes the output
            # sensitive to that last bit, the tolerance is widened by the measured sensitivity.
            exact = fbank_with_exact_bank_math(wav.to(torch.float64), opts)
            for dtype_name, dtype, tol in runs:
                out = kaldi.fbank(wav.to(dtype), **opts).numpy()
                sensitivity = float(np.abs(out - exact).max()) if dtype_name == "float64" else 0.0
                tol = tol + sensitivity
                file = f"fbank/{clip}__{name}__{dtype_name}.npy"
                save(FIX / file, out)
                entries.append(dict(clip=rel, channel=0, options=opts, file=file, dtype=dtype_name,
                                    tolerance_abs=tol, bank_rounding_sensitivity=sensitivity,
                                    shape=list(out.shape)))
    (FIX / "fbank").mkdir(parents=True, exist_ok=True)
    meta = dict(reference="torchaudio.compliance.kaldi.fbank", torchaudio=_tav(), entries=entries)
    (FIX / "fbank" / "manifest.json").write_text(json.dumps(meta, indent=1))


def fbank_with_exact_bank_math(wav, opts):
    """kaldi.fbank with its float32 mel bank built from correctly rounded float32 log/exp."""
    import torch
    import torchaudio.compliance.kaldi as kaldi

    def exact(fn):
        def op(t):
            if not torch.is_tensor(t):
                return fn(t)
            x = t.numpy().astype(np.float32)
            return torch.from_numpy(np.asarray(fn(x), dtype=np.float32))
        return op

    def mel(x):
        if np.isscalar(x):
            return 1127.0 * math.log(1.0 + x / 700.0)
        y = (np.float32(1.0) + x / np.float32(700.0)).astype(np.float32)
        return np.float32(1127.0) * np.log(y.astype(np.float64)).astype(np.float32)

    def inv_mel(m):
        if np.isscalar(m):
            return 700.0 * (math.exp(m / 1127.0) - 1.0)
        y = (m / np.float32(1127.0)).astype(np.float32)
        return np.float32(700.0) * (np.exp(y.astype(np.float64)).astype(np.float32) - np.float32(1.0))

    saved = kaldi.mel_scale, kaldi.inverse_mel_scale
    kaldi.mel_scale, kaldi.inverse_mel_scale = exact(mel), exact(inv_mel)
    try:
        return kaldi.fbank(wav, **opts).numpy()
    finally:
        kaldi.mel_scale, kaldi.inverse_mel_scale = saved


def _tav():
    import torchaudio
    return torchaudio.__version__


# --------------------------------------------------------------------------------------- presets
def psla_eval(path, dtype, target_length=1056, mean=-4.6476, std=4.5699, exact_bank=False):
    """PSLA src/dataloaders/audioset_dataset.py, _wav2fbank(filename) + __getitem__ in eval mode."""
    import torch
    import torchaudio.compliance.kaldi as kaldi

    wav, sr = read_wav_pcm16(path)
    waveform = torch.from_numpy(wav[:1].copy()).to(dtype)  # torchaudio.load(...)[0]: first channel
    waveform = waveform - waveform.mean()
    opts = dict(htk_compat=True, sample_frequency=sr, use_energy=False, window_type="hanning",
                num_mel_bins=128, dither=0.0, frame_shift=10)
    if exact_bank:
        fbank = torch.from_numpy(fbank_with_exact_bank_math(waveform, opts))
    else:
        fbank = kaldi.fbank(waveform, **opts)
    n_frames = fbank.shape[0]
    p = target_length - n_frames
    if p > 0:
        fbank = torch.nn.ZeroPad2d((0, 0, 0, p))(fbank)
    elif p < 0:
        fbank = fbank[0:target_length, :]
    fbank = (fbank - mean) / std
    return fbank.numpy()


def slaney_db(wav, sr, n_fft, win, hop, n_mels, center=True):
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=n_fft, win_length=win, hop_length=hop, f_min=0.0, f_max=sr / 2,
        n_mels=n_mels, window_fn=torch.hann_window, power=2.0, center=center, pad_mode="constant",
        norm="slaney", mel_scale="slaney").double()
    x = mel(torch.from_numpy(wav.astype(np.float64)))
    return (10.0 * torch.log10(torch.clamp(x, min=1e-10))).T.numpy()


def vggish_reference(wav, sr=16000):
    """numpy transcription of VGGish vggish_input.waveform_to_examples / mel_features.py."""
    assert sr == 16000
    win, hop, n_fft = 400, 160, 512
    n_frames = 1 + (len(wav) - win) // hop
    frames = np.stack([wav[i * hop:i * hop + win] for i in range(n_frames)]).astype(np.float64)
    window = 0.5 - 0.5 * np.cos(2 * np.pi / win * np.arange(win))  # periodic Hann
    spec = np.abs(np.fft.rfft(frames * window, n_fft))
    n_bins = n_fft // 2 + 1

    def hz_to_mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    bins_mel = hz_to_mel(np.linspace(0.0, sr / 2, n_bins))
    edges = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 64 + 2)
    weights = np.empty((n_bins, 64))
    for i in range(64):
        lo, c, hi = edges[i:i + 3]
        weights[:, i] = np.maximum(0.0, np.minimum((bins_mel - lo) / (c - lo),
                                                   (hi - bins_mel) / (hi - c)))
    weights[0, :] = 0.0
    log_mel = np.log(spec @ weights + 0.01)
    n_ex = 1 + (log_mel.shape[0] - 96) // 96
    return np.stack([log_mel[i * 96:i * 96 + 96] for i in range(n_ex)])


def gen_presets(data):
    import torch
    import torchaudio.functional as AF

    entries = []
    for clip in ["audioset/R9_ZSCveAHg_7s.wav", "urbansound8k/UrbanSound8K/audio/fold1/101415-3-0-2.wav"]:
        stem = Path(clip).stem
        exact = psla_eval(data / clip, torch.float64, exact_bank=True)
        for dtype_name, dtype, tol in [("float64", torch.float64, 1e-4), ("float32", torch.float32, 5e-4)]:
            file = f"presets/psla__{stem}__{dtype_name}.npy"
            out = psla_eval(data / clip, dtype)
            sensitivity = float(np.abs(out - exact).max()) if dtype_name == "float64" else 0.0
            save(FIX / file, out)
            entries.append(dict(preset="psla", clip=clip, file=file, dtype=dtype_name,
                                tolerance_abs=tol + sensitivity,
                                bank_rounding_sensitivity=sensitivity))
    # slim2d: 8 kHz clip as is; 320-point frames without centring (4 s -> the paper's 64 x 199).
    clip = "urbansound8k/UrbanSound8K/audio/fold1/101415-3-0-2.wav"
    wav, sr = read_wav_pcm16(data / clip)
    x = slaney_db(wav[0], sr, 320, 320, 160, 64, center=False)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    save(FIX / "presets/slim2d__us8k.npy", x)
    entries.append(dict(preset="slim2d", clip=clip, file="presets/slim2d__us8k.npy", tolerance_abs=1e-3))
    # The 44.1 kHz and 16 kHz presets are checked on a deterministic synthetic signal stored with
    # the fixture, so that resampler differences do not enter the comparison.
    rng = np.random.default_rng(0)
    for preset, sr in [("dcase-densenet", 44100), ("vggish", 16000)]:
        t = np.arange(int(1.3 * sr)) / sr
        sig = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t * (1 + t))
               + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
        save(FIX / f"presets/{preset}__input.npy", sig)
        ref = slaney_db(sig, sr, 1024, 1024, 128, 64) if preset == "dcase-densenet" \
            else vggish_reference(sig.astype(np.float64), sr).reshape(-1, 64)
        save(FIX / f"presets/{preset}__synthetic.npy", ref)
        entries.append(dict(preset=preset, sample_rate=sr, input=f"presets/{preset}__input.npy",
                            file=f"presets/{preset}__synthetic.npy",
                            tolerance_abs=1e-3 if preset == "dcase-densenet" else 1e-4))
    meta = dict(tolerance_note="dB presets: 1e-3 absolute (values span -100..40 dB)", entries=entries)
    (FIX / "presets" / "manifest.json").write_text(json.dumps(meta, indent=1))
    del torch, AF


# ----------------------------------------------------------------------------------------- audio
def gen_audio(data):
    import soundfile as sf

    out = FIX / "audio"
    out.mkdir(parents=True, exist_ok=True)
    wav, sr = read_wav_pcm16(data / "fsdd/recordings/0_george_0.wav")
    x = wav[0]
    stereo = np.stack([x, -0.5 * x], axis=1)
    entries = []
    for name, fmt, subtype, sig in [
        ("pcm_u8.wav", "WAV", "PCM_U8", x), ("pcm_24.wav", "WAV", "PCM_24", x),
        ("pcm_32.wav", "WAV", "PCM_32", x), ("float.wav", "WAV", "FLOAT", x),
        ("stereo_16.wav", "WAV", "PCM_16", stereo), ("clip.flac", "FLAC", "PCM_16", x),
        ("clip.ogg", "OGG", "VORBIS", x), ("clip.mp3", "MP3", "MPEG_LAYER_III", x),
    ]:
        sf.write(out / name, sig, sr, format=fmt, subtype=subtype)
        dec, _ = sf.read(out / name, dtype="float64", always_2d=True)
        lossless = fmt in ("WAV", "FLAC")
        if subtype == "PCM_U8":
            # torchaudio.load for unsigned 8-bit: (v - 128) / 128; soundfile gives the same.
            pass
        save(out / f"{name}.expected.npy", dec.T)
        entries.append(dict(file=f"audio/{name}", expected=f"audio/{name}.expected.npy",
                            lossless=lossless, sample_rate=sr, channels=dec.shape[1],
                            frames=dec.shape[0]))
    (out / "manifest.json").write_text(json.dumps(dict(
        reference="soundfile (libsndfile) float decode == torchaudio.load scaling 1/2^(bits-1)",
        tolerance_lossless=1e-7, lossy_check="length within 2400 samples, correlation > 0.99",
        entries=entries), indent=1))


# --------------------------------------------------------------------------------------- metrics
def mapk(labels, scores, k=3):
    """DCASE 2018 task 2 (Kaggle) MAP@k for one label per clip, ties ranked pessimistically."""
    total = 0.0
    for l, s in zip(labels, scores):
        rank = 1 + int(np.sum(np.delete(s, l) >= s[l]))
        total += 1.0 / rank if rank <= k else 0.0
    return total / len(labels)


def gen_metrics():
    from scipy.stats import norm
    from sklearn.metrics import (average_precision_score, precision_recall_curve, roc_auc_score,
                                 roc_curve)

    rng = np.random.default_rng(7)
    n, c = 400, 12
    targets = (rng.random((n, c)) < rng.uniform(0.02, 0.4, c)).astype(np.float32)
    targets[:, 3] = 0.0  # no positives: excluded from mAP and mean AUC
    targets[:, 8] = 1.0  # no negatives: AP defined, AUC excluded
    # Heavily tied scores (two decimals) correlated with the targets.
    scores = np.round(np.clip(0.3 * targets + rng.random((n, c)) * 0.8, 0, 1), 2).astype(np.float32)
    ap, auc = [], []
    for k in range(c):
        pos = targets[:, k].sum()
        ap.append(float(average_precision_score(targets[:, k], scores[:, k])) if pos > 0 else None)
        auc.append(float(roc_auc_score(targets[:, k], scores[:, k])) if 0 < pos < n else None)
    mean_auc = float(np.mean([a for a in auc if a is not None]))
    # Whole curves of a few classes with both positives and negatives (PSLA's stats.py keeps
    # every 1000th point of these): thresholds are the float32 scores.
    curves = []
    for k in (0, 1, 5, 11):
        p, r, pt = precision_recall_curve(targets[:, k], scores[:, k])
        fpr, tpr, rt = roc_curve(targets[:, k], scores[:, k])
        curves.append(dict(cls=k, precision=p.tolist(), recall=r.tolist(),
                           pr_thresholds=pt.astype(np.float64).tolist(), fpr=fpr.tolist(),
                           tpr=tpr.tolist(), roc_thresholds=rt[1:].astype(np.float64).tolist(),
                           roc_first_threshold=str(rt[0])))
    labels = rng.integers(0, c, n)
    ppf_p = [1e-12, 1e-6, 0.01, 0.2, 0.5, 0.77, 0.9, 0.99, 0.999999]
    meta = dict(
        reference="sklearn %s, scipy norm.ppf" % __import__("sklearn").__version__,
        tolerance_abs=1e-12,
        rows=n, cols=c, scores=scores.ravel().tolist(), targets=targets.ravel().tolist(),
        ap=ap, auc=auc, map=float(np.mean([a for a in ap if a is not None])), mean_auc=mean_auc,
        d_prime=float(norm.ppf(mean_auc) * math.sqrt(2.0)),
        labels=labels.tolist(), map_at_3=mapk(labels, scores, 3),
        ppf=[[p, float(norm.ppf(p))] for p in ppf_p], curves=curves,
    )
    (FIX / "metrics.json").write_text(json.dumps(meta))


# ---------------------------------------------------------------------------------------- models
def _compact_params(model, torch, big_numel=4096, pool=1 << 20, scale=0.1, seed=0, storage=None):
    """Make every large weight a window of one shared random storage.

    torch.save writes a storage once however many tensors view it, so a full-size B2 state dict
    (13.6 M parameters) is stored in ~5 MB instead of 54 MB. Each window starts at a pseudo-random
    offset, so every tensor still holds different, non-trivial values.
    """
    g = torch.Generator().manual_seed(seed)
    if storage is None:
        storage = (torch.rand(pool, generator=g) * 2 - 1) * scale
    pool = storage.numel()
    for _, p in model.named_parameters():
        n = p.numel()
        if n > big_numel:
            assert n <= pool, n
            off = int(torch.randint(0, pool - n + 1, (1,), generator=g))
            p.data = storage[off:off + n].view_as(p.data)


def _random_batchnorm(model, torch, g):
    """Non-trivial BatchNorm statistics and affine parameters, drawn from generator `g`."""
    for mod in model.modules():
        if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            c = mod.num_features
            mod.running_mean.copy_((torch.rand(c, generator=g) - 0.5) * 0.2)
            mod.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            mod.bias.data.copy_((torch.rand(c, generator=g) - 0.5) * 0.2)


def _rawwave_nets(torch):
    """PyTorch transcriptions of Naranjo-Alcazar et al.'s residual blocks RB1-RB6 (their Fig. 3),
    Dai et al.'s M34-res (Table 1) and the slim 2D network (Naranjo-Alcazar et al. Table I),
    written from the papers with tympan's module names so the state dict loads by name."""
    nn, F = torch.nn, torch.nn.functional
    # (bn1, bn2, bn_out) per block
    norms = {1: (1, 1, 0), 2: (1, 0, 1), 3: (1, 1, 0), 4: (1, 1, 0), 5: (1, 1, 0), 6: (1, 1, 1)}

    class RB(nn.Module):
        def __init__(self, kind, cin, cout, dim):
            super().__init__()
            Conv, BN = (nn.Conv1d, nn.BatchNorm1d) if dim == 1 else (nn.Conv2d, nn.BatchNorm2d)
            self.kind, self.cout = kind, cout
            self.conv1, self.conv2 = Conv(cin, cout, 3, padding=1), Conv(cout, cout, 3, padding=1)
            n1, n2, n3 = norms[kind]
            self.bn1 = BN(cin if kind == 5 else cout) if n1 else None
            self.bn2 = BN(cout) if n2 else None
            self.bn_out = BN(cout) if n3 else None

        def forward(self, x):
            pad = [0, 0] * (x.dim() - 2) + [0, self.cout - x.shape[1]]
            skip = F.pad(x, pad)  # zero-padded identity (He et al.'s option A)
            k, r = self.kind, F.relu
            if k == 1:
                return r(self.bn2(self.conv2(r(self.bn1(self.conv1(x))))) + skip)
            if k == 2:
                return r(self.bn_out(self.conv2(r(self.bn1(self.conv1(x)))) + skip))
            if k == 3:
                return r(self.bn2(self.conv2(r(self.bn1(self.conv1(x)))))) + skip
            if k == 4:
                return self.bn2(self.conv2(r(self.bn1(self.conv1(r(x)))))) + skip
            if k == 5:
                return self.conv2(r(self.bn2(self.conv1(r(self.bn1(x)))))) + skip
            return r(self.bn_out(self.bn2(self.conv2(r(self.bn1(self.conv1(x))))) + skip))

    def stages(kind, widths, first, dim):
        out, cin = nn.ModuleList(), first
        for c, n in widths:
            out.append(nn.ModuleList([RB(kind, cin if i == 0 else c, c, dim) for i in range(n)]))
            cin = c
        return out

    class M34Res(nn.Module):
        def __init__(self, kind, classes=10):
            super().__init__()
            self.conv0 = nn.Conv1d(1, 48, 80, stride=4, padding=38)
            self.bn0 = nn.BatchNorm1d(48)
            self.stages = stages(kind, [(48, 3), (96, 4), (192, 6), (384, 3)], 48, 1)
            self.fc = nn.Linear(384, classes)

        def forward(self, x):
            x = F.max_pool1d(F.relu(self.bn0(self.conv0(x))), 4)
            for s, stage in enumerate(self.stages):
                for b in stage:
                    x = b(x)
                if s < len(self.stages) - 1:
                    x = F.max_pool1d(x, 4)
            return self.fc(x.mean(dim=2))

    def pool(x, k):
        k = [max(1, min(k[0], x.shape[2])), max(1, min(k[1], x.shape[3]))]
        return x if k == [1, 1] else F.max_pool2d(x, k, k)

    class Slim2d(nn.Module):
        def __init__(self, kind, classes=10):
            super().__init__()
            self.conv0 = nn.Conv2d(1, 48, (1, 80))  # "same" along time: 39 left, 40 right
            self.bn0 = nn.BatchNorm2d(48)
            self.stages = stages(kind, [(48, 1), (96, 2), (192, 3), (384, 1)], 48, 2)
            self.fc = nn.Linear(384, classes)

        def forward(self, x):  # [B, 1, F, T]
            x = pool(F.relu(self.bn0(self.conv0(F.pad(x, (39, 40, 0, 0))))), [1, 4])
            for s, stage in enumerate(self.stages):
                for b in stage:
                    x = b(x)
                if s < len(self.stages) - 1:
                    x = pool(x, [4, 4])
            return self.fc(x.mean(dim=3).mean(dim=2))

    return M34Res, Slim2d


def gen_rawwave(data):
    """Golden forwards of M34-res and the slim 2D network with RB1, RB5 and RB6 (every layout
    switch: BN on the block input, BN after the addition) in eval mode, random weights and
    BatchNorm statistics, on a real UrbanSound8K clip: its 4 s of 8 kHz samples (M34-res) and its
    `slim2d` features (64 x 199, the preset fixture). All six state dicts go into one file whose
    large weights are windows of one shared storage (`_compact_params`)."""
    import torch

    M34Res, Slim2d = _rawwave_nets(torch)
    clip = "urbansound8k/UrbanSound8K/audio/fold1/101415-3-0-2.wav"
    wav, sr = read_wav_pcm16(data / clip)
    assert sr == 8000, sr
    wave = np.zeros(32000, dtype=np.float32)
    n = min(32000, wav.shape[1])
    wave[:n] = wav[0, :n]
    feats = np.load(FIX / "presets/slim2d__us8k.npy").astype(np.float32)  # [T, F]
    inputs = dict(m34=torch.from_numpy(wave).view(1, 1, -1),
                  slim2d=torch.from_numpy(np.ascontiguousarray(feats.T)).view(1, 1, 64, -1))
    g = torch.Generator().manual_seed(1)
    shared = (torch.rand(3 << 19, generator=g) * 2 - 1) * 0.05
    dicts, logits = {}, {}
    for fam, cls in [("m34", M34Res), ("slim2d", Slim2d)]:
        for kind in (1, 5, 6):
            torch.manual_seed(kind)
            m = cls(kind)
            _compact_params(m, torch, seed=kind, storage=shared)
            _random_batchnorm(m, torch, g)
            m.eval()
            with torch.no_grad():
                y = m(inputs[fam])
            name = f"{fam}_rb{kind}"
            dicts[name] = m.state_dict()
            logits[name] = y[0].tolist()
    out = FIX / "models"
    out.mkdir(parents=True, exist_ok=True)
    torch.save(dicts, out / "rawwave_rb156.pth")
    save(out / "m34__input.npy", wave)
    (out / "rawwave_manifest.json").write_text(json.dumps(dict(
        reference="PyTorch transcriptions in scripts/generate_reference.py (_rawwave_nets) of "
                  "Naranjo-Alcazar et al. Fig. 3 / Table I and Dai et al. Table 1, eval mode",
        clip=clip, weights="models/rawwave_rb156.pth (one state dict per top-level key)",
        inputs=dict(m34="models/m34__input.npy", slim2d="presets/slim2d__us8k.npy (transposed)"),
        logits=logits, tolerance="1e-4 x max(1, max |logit|)"), indent=1))


def _densenet(torch, growth, classes, heads, sr, stem=15):
    """A PyTorch transcription of Jeong & Lim's log-mel DenseNet (their Fig. 2a, Sec. 2) with
    tympan's module names: BN on the waveform, the librosa-style log-mel (torchaudio), BN, a 3x3
    stem conv of `stem` filters ("Low-level-15") concatenated with its input, DenseNet modules
    (BN-ReLU-1x1, BN-ReLU-3x3, SE with ratio 16, concatenation, 2x2 max pooling clamped to the
    axis), BN-ReLU, global average pooling and the mean of the heads' softmax outputs."""
    import torchaudio
    nn, F = torch.nn, torch.nn.functional

    class SE(nn.Module):
        def __init__(self, c):
            super().__init__()
            r = max(c // 16, 1)
            self.fc1, self.fc2 = nn.Linear(c, r), nn.Linear(r, c)

        def forward(self, x):
            s = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))
            return x * s[:, :, None, None]

    class Dense(nn.Module):
        def __init__(self, cin, k):
            super().__init__()
            self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, k, 1, bias=False)
            self.bn2, self.conv2 = nn.BatchNorm2d(k), nn.Conv2d(k, k, 3, padding=1, bias=False)
            self.se = SE(k)

        def forward(self, x):
            y = self.se(self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x)))))))
            x = torch.cat([x, y], 1)
            k = [max(1, min(2, x.shape[2])), max(1, min(2, x.shape[3]))]
            return x if k == [1, 1] else F.max_pool2d(x, k, k)

    class DenseNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=sr, n_fft=1024, win_length=1024, hop_length=128, f_min=0.0,
                f_max=sr / 2, n_mels=64, window_fn=torch.hann_window, power=2.0, center=True,
                pad_mode="constant", norm="slaney", mel_scale="slaney")
            self.wave_bn, self.mel_bn = nn.BatchNorm1d(1), nn.BatchNorm2d(1)
            self.stem = nn.Conv2d(1, stem, 3, padding=1)
            c, mods = 1 + stem, []
            for k in growth:
                mods.append(Dense(c, k))
                c += k
            self._modules["modules"] = nn.ModuleList(mods)  # tympan's field name (shadows a method)
            self.final_bn = nn.BatchNorm2d(c)
            self.heads = nn.ModuleList([nn.Linear(c, classes) for _ in range(heads)])

        def forward(self, wave):  # [B, 1, N]
            m = 10.0 * torch.log10(torch.clamp(self.mel(self.wave_bn(wave)), min=1e-10))
            x = self.mel_bn(m).transpose(2, 3)  # [B, 1, T, mels]
            x = torch.cat([x, self.stem(x)], 1)
            for d in self._modules["modules"]:
                x = d(x)
            x = F.relu(self.final_bn(x)).mean(dim=(2, 3))
            return torch.stack([F.softmax(h(x), 1) for h in self.heads]).mean(0)

    return DenseNet()


def gen_densenet(data):
    """Golden forward of `densenet-logmel-small-16k` (growth 16, 32, 64, 64, 64; 8 heads; 41
    classes) against `_densenet`, eval mode, random weights and BatchNorm statistics, on 2 s of a
    real UrbanSound8K clip's samples read at 16 kHz."""
    import torch

    torch.manual_seed(3)
    net = _densenet(torch, [16, 32, 64, 64, 64], 41, 8, 16000)
    g = torch.Generator().manual_seed(4)
    _random_batchnorm(net, torch, g)
    net.eval()
    clip = "urbansound8k/UrbanSound8K/audio/fold1/101415-3-0-2.wav"
    wav, _ = read_wav_pcm16(data / clip)
    x = np.ascontiguousarray(wav[0, :32000], dtype=np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x).view(1, 1, -1))
    # The log-mel's window and filter bank are constants, not weights (tympan builds them).
    sd = {k: v for k, v in net.state_dict().items() if not k.startswith("mel.")}
    out = FIX / "models"
    torch.save(sd, out / "densenet_logmel_small_16k_41.pth")
    save(out / "densenet__input.npy", x)
    (out / "densenet_manifest.json").write_text(json.dumps(dict(
        reference="PyTorch transcription in scripts/generate_reference.py (_densenet) of Jeong & "
                  "Lim Fig. 2a with torchaudio's Slaney log-mel, eval mode",
        arch="densenet-logmel-small-16k", classes=41, clip=clip,
        probabilities=y[0].tolist(), tolerance="2e-5 absolute on the probabilities"), indent=1))


def _calibrated_batchnorm(model, torch, g, calib):
    """Random BatchNorm affine parameters drawn from `g`, running statistics calibrated on the
    real batch `calib` (one train-mode forward, cumulative average), then eval mode. Calibrated
    statistics keep a deep random network's activations in range, so the comparison is not of
    saturated outputs."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) - 0.5) * 0.4)
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
        model.train()
        model(calib)
    model.eval()


def _psla_calibration(data, torch):
    """PSLA eval-mode fbanks of three real clips (BatchNorm calibration batch)."""
    clips = ["fsdd/recordings/3_jackson_10.wav", "fsdd/recordings/9_yweweler_20.wav",
             "urbansound8k/UrbanSound8K/audio/fold1/101415-3-0-2.wav"]
    return torch.from_numpy(np.stack([psla_eval(data / c, torch.float32) for c in clips]))


PSLA_INPUTS = ["audioset/R9_ZSCveAHg_7s.wav", "fsdd/recordings/0_george_0.wav"]


def _psla_inputs(data, torch):
    """PSLA eval-mode fbanks of the two real clips the model golden tests score."""
    return torch.from_numpy(np.stack([psla_eval(data / c, torch.float32) for c in PSLA_INPUTS]))


def _save_pth(obj, pth, torch):
    """torch.save, then rewritten without ZIP64 records: burn-store 0.22.1's zip reader rejects
    torch 2.11's ZIP64 end records; scripts/rezip_pth.py stores the same entries in a plain
    archive, which torch.load reads identically."""
    import sys
    torch.save(obj, pth)
    sys.path.insert(0, str(ROOT / "scripts"))
    from rezip_pth import rezip
    rezip(pth, pth.with_suffix(".tmp"))
    pth.with_suffix(".tmp").replace(pth)


def gen_layouts():
    """models/index_gaps.pth: a state dict whose layer indices have a gap (features.0 and
    features.2, as tympan names a stack whose layer 1 has no parameters: Hershey et al.'s VGG
    keeps its poolings in `features`), with constant values the loader test checks."""
    import torch

    state = {"features.0.weight": torch.full((3, 2), 0.5), "features.0.bias": torch.full((3,), 0.25),
             "features.2.weight": torch.full((2, 3), 2.0), "features.2.bias": torch.full((2,), -1.0)}
    _save_pth(state, FIX / "models/index_gaps.pth", torch)


def gen_models(data, psla_src):
    """PSLA EffNetAttention(b=2, head_num=4, label_dim=527) from PSLA's own src/models/Models.py
    with efficientnet_pytorch 0.7.1, non-trivial BatchNorm statistics and head weights, saved
    through DataParallel (keys carry `module.`) as PSLA's released checkpoints are."""
    import sys
    import torch

    sys.path.insert(0, str(Path(psla_src) / "src"))
    from models.Models import EffNetAttention  # PSLA's model definition (not vendored in tympan)

    torch.manual_seed(0)
    model = EffNetAttention(label_dim=527, b=2, pretrain=False, head_num=4)
    _compact_params(model, torch)
    with torch.no_grad():
        model.attention.head_weight.copy_(torch.tensor([0.4, 0.3, 0.2, 0.1]))
    _calibrated_batchnorm(model, torch, torch.Generator().manual_seed(1), _psla_calibration(data, torch))
    x = _psla_inputs(data, torch)
    with torch.no_grad():
        feats = model.effnet.extract_features(x.unsqueeze(1).transpose(2, 3))
        scores = model(x)
    out = FIX / "models"
    out.mkdir(parents=True, exist_ok=True)
    pth = out / "psla_effnet_b2_h4_527.pth"
    _save_pth(torch.nn.DataParallel(model).state_dict(), pth, torch)
    save(out / "psla_effnet_b2_h4_527__input.npy", x.numpy())
    save(out / "psla_effnet_b2_h4_527__features.npy", feats.numpy())
    save(out / "psla_effnet_b2_h4_527__scores.npy", scores.numpy())
    n_params = sum(p.numel() for p in model.parameters())
    (out / "manifest.json").write_text(json.dumps(dict(
        reference="PSLA src/models/Models.py EffNetAttention(label_dim=527, b=2, pretrain=False, "
                  "head_num=4), efficientnet_pytorch " + _pkg_version("efficientnet_pytorch"),
        torch=torch.__version__, inputs=PSLA_INPUTS,
        parameters=n_params, tolerance=1e-4,
        score_range=[float(scores.min()), float(scores.max())]), indent=1))


def gen_resnet50(data, psla_src):
    """Golden forwards of the two ResNet-50 models, one shared storage for both state dicts
    (`_compact_params`; the largest tensor, layer4's 3x3 conv, is 2.36M values):
    - `psla-resnet50`: PSLA's own `ResNetAttention(label_dim=527)` (src/models/Models.py of a
      checkout, torchvision's ResNet-50 with a one-channel stem), on the B2 fixture's real fbanks;
    - `hershey-resnet50-b128`: Hershey et al. Sec. 3's ResNet-50 (torchvision's, one-channel 7x7
      stem without stride, mean over the 6x4 map) with the 128-d bottleneck and 10 outputs, on
      real 96x64 log-mel patches (`vggish_reference` of the AudioSet clip, resampled to 16 kHz).
    BatchNorm statistics are calibrated on real inputs (`_calibrated_batchnorm`)."""
    import sys
    import torch
    import torchaudio.functional as AF
    import torchvision

    sys.path.insert(0, str(Path(psla_src) / "src"))
    from models.Models import ResNetAttention  # PSLA's model definition (not vendored in tympan)

    g = torch.Generator().manual_seed(5)
    shared = (torch.rand(2359296, generator=g) * 2 - 1) * 0.05
    torch.manual_seed(5)
    psla = ResNetAttention(label_dim=527, pretrain=False)
    _compact_params(psla, torch, seed=5, storage=shared)
    _calibrated_batchnorm(psla, torch, g, _psla_calibration(data, torch))
    x = _psla_inputs(data, torch)

    nn = torch.nn

    class HersheyResNet50(nn.Module):
        def __init__(self, classes=10, bottleneck=128):
            super().__init__()
            r = torchvision.models.resnet50(weights=None)
            r.conv1 = nn.Conv2d(1, 64, 7, stride=1, padding=3, bias=False)
            r.fc, r.avgpool = nn.Identity(), nn.Identity()
            self.resnet = r
            self.bottleneck = nn.Linear(2048, bottleneck)
            self.out = nn.Linear(bottleneck, classes)

        def forward(self, p):  # [B, 96, 64]
            r = self.resnet
            y = r.maxpool(r.relu(r.bn1(r.conv1(p.unsqueeze(1)))))
            y = r.layer4(r.layer3(r.layer2(r.layer1(y))))
            return self.out(self.bottleneck(y.mean(dim=(2, 3))))

    def patches(clip):
        wav, sr = read_wav_pcm16(data / clip)
        w = AF.resample(torch.from_numpy(wav[0].astype(np.float64)), sr, 16000).numpy()
        return vggish_reference(w, 16000)

    real = np.concatenate([patches("audioset/R9_ZSCveAHg_7s.wav"),
                           patches("urbansound8k/UrbanSound8K/audio/fold1/101415-3-0-2.wav")])
    real = ((real - real.mean()) / real.std()).astype(np.float32)  # normalised, as in training
    calib, h_in = torch.from_numpy(real[2:]), torch.from_numpy(np.ascontiguousarray(real[:2]))
    torch.manual_seed(6)
    hershey = HersheyResNet50()
    _compact_params(hershey, torch, seed=6, storage=shared)
    _calibrated_batchnorm(hershey, torch, g, calib)
    with torch.no_grad():
        psla_scores, hershey_logits = psla(x), hershey(h_in)
    out = FIX / "models"
    _save_pth(dict(psla=psla.state_dict(), hershey=hershey.state_dict()),
              out / "resnet50_psla_hershey.pth", torch)
    save(out / "hershey__input.npy", h_in.numpy())
    (out / "resnet50_manifest.json").write_text(json.dumps(dict(
        reference=dict(psla="PSLA src/models/Models.py ResNetAttention(label_dim=527, "
                            "pretrain=False), torchvision " + torchvision.__version__,
                       hershey="HersheyResNet50 in scripts/generate_reference.py (torchvision's "
                               "ResNet-50, stem stride 1, 128-d bottleneck, 10 outputs)"),
        torch=torch.__version__,
        inputs=dict(psla="models/psla_effnet_b2_h4_527__input.npy",
                    hershey="models/hershey__input.npy (patches 0-1: the AudioSet clip)"),
        psla_scores=psla_scores.tolist(), hershey_logits=hershey_logits.tolist(),
        tolerance="psla: 1e-4 absolute on the scores; hershey: 1e-4 x max(1, max |logit|)"),
        indent=1))


def _pkg_version(name):
    from importlib.metadata import version
    return version(name)


# --------------------------------------------------------------------------- label enhancement
def synthetic_teacher(n, c):
    """A deterministic 'teacher' in [0, 1): integer arithmetic the Rust test repeats exactly."""
    i = np.arange(n, dtype=np.int64)[:, None]
    k = np.arange(c, dtype=np.int64)[None, :]
    return (((i * 7919 + k * 104729 + (i * k) % 65521) % 1000003) / 1000003.0).astype(np.float32)


def gen_enhance(data, psla_src):
    """PSLA label enhancement Type II by PSLA's own src/label_enhancement/fix_type2.py
    (generate_parent_dict, dfs_dict, enhance_label_type2, and its 'mean' thresholds) on the real
    ontology.json and balanced_train_segments.csv, with synthetic_teacher() predictions."""
    import importlib.util
    import os
    import tempfile

    rows = []
    for line in (data / "audioset/balanced_train_segments.csv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        ytid, _, _, labels = [c.strip() for c in line.split(",", 3)]
        rows.append(dict(wav=f"{ytid}.wav", labels=labels.strip('"')))
    lines = (data / "audioset/class_labels_indices.csv").read_text().splitlines()[1:]
    codes = [l.split(",")[1] for l in lines]
    code2idx = {c: i for i, c in enumerate(codes)}
    n, c = len(rows), len(codes)
    pred = synthetic_teacher(n, c).astype(np.float64)  # PSLA reads predictions with np.loadtxt
    target = np.zeros((n, c))
    for i, r in enumerate(rows):
        for l in r["labels"].split(","):
            target[i, code2idx[l]] = 1
    mean_score = [np.mean(pred[np.where(target[:, j] == 1)[0], j]) for j in range(c)]
    spec = importlib.util.spec_from_file_location(
        "fix_type2", Path(psla_src) / "src" / "label_enhancement" / "fix_type2.py")
    fix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fix)
    fix.code2idx = code2idx  # the script defines it under __main__
    with tempfile.TemporaryDirectory() as tmp:
        # generate_parent_dict reads ../utilities/ontology.json
        (Path(tmp) / "utilities").mkdir()
        (Path(tmp) / "utilities" / "ontology.json").write_bytes((data / "audioset/ontology.json").read_bytes())
        work = Path(tmp) / "work"
        work.mkdir()
        cwd = os.getcwd()
        os.chdir(work)
        try:
            par = fix.dfs_dict(fix.generate_parent_dict())
        finally:
            os.chdir(cwd)
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(dict(data=rows)))
        fix.enhance_label_type2(str(src), str(dst), par, codes, mean_score, pred, "audioset")
        out = json.loads(dst.read_text())["data"]
    changed = {str(i): sorted(o["labels"].split(",")) for i, (r, o) in enumerate(zip(rows, out))
               if sorted(set(r["labels"].split(","))) != sorted(o["labels"].split(","))}
    dest = FIX / "enhance"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "psla_type2_balanced.json").write_text(json.dumps(dict(
        reference="PSLA src/label_enhancement/fix_type2.py (generate_parent_dict, dfs_dict, "
                  "enhance_label_type2) on audioset/ontology.json and balanced_train_segments.csv",
        teacher="synthetic_teacher() in scripts/generate_reference.py",
        threshold="mean", clips=n, thresholds=mean_score, changed=changed,
        added=int(sum(len(v) for v in changed.values()) - sum(
            len(set(rows[int(i)]["labels"].split(","))) for i in changed)),
        tolerance="labels exact; thresholds 1e-6 absolute"), indent=0))


# ----------------------------------------------------------------------------------- psla stats
def gen_psla_stats(psla_src):
    """PSLA's own calculate_stats (src/utilities/stats.py) on a 2,300 x 3 matrix of distinct
    float32 scores, so every curve keeps several of its every-1000th points."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "psla_stats", Path(psla_src) / "src" / "utilities" / "stats.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(11)
    n, c = 2300, 3
    targets = (rng.random((n, c)) < np.array([0.1, 0.4, 0.7])).astype(np.float32)
    scores = (0.4 * targets + rng.random((n, c))).astype(np.float32)
    out = FIX / "psla_stats"
    out.mkdir(parents=True, exist_ok=True)
    save(out / "scores.npy", scores)
    save(out / "targets.npy", targets)
    stats = mod.calculate_stats(scores, targets)
    plain = [{k: (v.tolist() if hasattr(v, "tolist") else float(v)) for k, v in d.items()}
             for d in stats]
    (out / "stats.json").write_text(json.dumps(dict(
        reference="PSLA src/utilities/stats.py calculate_stats, sklearn %s"
                  % __import__("sklearn").__version__, tolerance_abs=1e-12, stats=plain)))


# -------------------------------------------------------------------------------------- sampling
def gen_sampling(data, psla_src):
    """PSLA Algorithm 1 by PSLA's own src/gen_weight_file.py, on a datafile of every segment of the
    real balanced_train_segments.csv (wav paths are placeholders; the script reads labels only)."""
    import subprocess
    import sys
    import tempfile

    rows = []
    for line in (data / "audioset/balanced_train_segments.csv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        ytid, _, _, labels = [c.strip() for c in line.split(",", 3)]
        rows.append(dict(wav=f"{ytid}.wav", labels=labels.strip('"')))
    with tempfile.TemporaryDirectory() as tmp:
        df = Path(tmp) / "balanced_train_data.json"
        df.write_text(json.dumps(dict(data=rows)))
        subprocess.run([sys.executable, str(Path(psla_src) / "src" / "gen_weight_file.py"),
                        "--label_indices_path", str(data / "audioset/class_labels_indices.csv"),
                        "--datafile_path", str(df)], check=True)
        w = np.loadtxt(Path(tmp) / "balanced_train_data_weight.csv", delimiter=",")
    out = FIX / "sampling"
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "psla_balanced_train_weights.npy", w.astype(np.float64))
    (out / "manifest.json").write_text(json.dumps(dict(
        reference="PSLA src/gen_weight_file.py on audioset/balanced_train_segments.csv",
        entries=len(rows), tolerance_relative=1e-6), indent=1))


# Kernel fixtures: the gradients of tympan's flex kernels (crates/tympan-models/src/kernels) against
# torch.nn.functional on the same random tensors. One case per kernel path.
KERNEL_CASES = [
    # name, in, out, kernel, stride, dilation, (top, left, bottom, right), groups, bias, input shape
    ("pointwise", 24, 40, 1, 1, 1, (0, 0, 0, 0), 1, False, (2, 24, 9, 7)),
    ("stem_3x3_s2_asym", 1, 16, 3, 2, 1, (0, 0, 1, 1), 1, False, (2, 1, 33, 16)),
    ("dense_3x3_dilated_bias", 4, 6, 3, 1, 2, (2, 2, 2, 2), 1, True, (2, 4, 12, 10)),
    ("depthwise_3x3_s1", 12, 12, 3, 1, 1, (1, 1, 1, 1), 12, False, (2, 12, 17, 13)),
    ("depthwise_5x5_s2_asym", 8, 8, 5, 2, 1, (1, 1, 2, 2), 8, False, (2, 8, 21, 14)),
    # M-net style 1D conv, stored as height 1: kernel 1 x 80, stride 4.
    ("conv1d_k80_s4_bias", 1, 8, (1, 80), (1, 4), 1, (0, 0, 0, 0), 1, True, (2, 1, 1, 803)),
]


def gen_kernels():
    import torch
    import torch.nn.functional as F
    out = FIX / "kernels"
    g = torch.Generator().manual_seed(0)
    meta = dict(torch=torch.__version__, conv=[], batch_norm=[])
    for name, cin, cout, k, s, d, (t, l, b, r), groups, bias, shape in KERNEL_CASES:
        k = k if isinstance(k, tuple) else (k, k)
        s = s if isinstance(s, tuple) else (s, s)
        x = torch.randn(shape, generator=g, dtype=torch.float32, requires_grad=True)
        w = (torch.randn((cout, cin // groups) + k, generator=g) * 0.3).requires_grad_()
        bb = (torch.randn(cout, generator=g) * 0.1).requires_grad_() if bias else None
        y = F.conv2d(F.pad(x, (l, r, t, b)), w, bb, stride=s, dilation=d, groups=groups)
        rr = torch.randn(y.shape, generator=g)
        (y * rr).sum().backward()
        arrays = dict(x=x, w=w, r=rr, y=y, x_grad=x.grad, w_grad=w.grad)
        if bias:
            arrays.update(b=bb, b_grad=bb.grad)
        for key, v in arrays.items():
            save(out / f"{name}__{key}.npy", v.detach().numpy())
        meta["conv"].append(dict(name=name, kernel=list(k), stride=list(s), dilation=d,
                                 padding=[t, l, b, r], groups=groups, bias=bias))
    # Batch norm in training mode, efficientnet_pytorch's settings (momentum 0.01, eps 1e-3).
    for name, shape in [("bn_4d", (2, 6, 33, 17)), ("bn_height1", (3, 5, 1, 70))]:
        c = shape[1]
        x = (torch.randn(shape, generator=g) * 2 + 0.5).requires_grad_()
        gamma = (torch.rand(c, generator=g) + 0.5).requires_grad_()
        beta = (torch.randn(c, generator=g) * 0.3).requires_grad_()
        rm, rv = torch.zeros(c), torch.ones(c)
        y = F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.01, eps=1e-3)
        rr = torch.randn(shape, generator=g)
        (y * rr).sum().backward()
        for key, v in dict(x=x, gamma=gamma, beta=beta, r=rr, y=y, x_grad=x.grad,
                           gamma_grad=gamma.grad, beta_grad=beta.grad, running_mean=rm).items():
            save(out / f"{name}__{key}.npy", v.detach().numpy())
        # torch updates the running variance with the unbiased batch variance; Burn (and so
        # tympan) with the biased one. Store both so the test can say which it matches.
        n = x.numel() // c
        var_b = x.detach().transpose(0, 1).reshape(c, -1).var(dim=1, unbiased=False)
        save(out / f"{name}__running_var_torch.npy", rv.numpy())
        save(out / f"{name}__running_var_biased.npy", (0.99 + 0.01 * var_b).numpy())
        meta["batch_norm"].append(dict(name=name, momentum=0.01, eps=1e-3, per_channel=n))
    (out / "manifest.json").write_text(json.dumps(meta, indent=1))


def gen_losses():
    """The training losses against PyTorch: PSLA's BCE on clamped probabilities (the
    reference itself, `nn.BCELoss` as `traintest.py` calls it) with its gradient; and our own
    PyTorch transcriptions (named so in the tests) of Chen et al.'s mean of per-level losses,
    Jeong & Lim's batch-wise masked cross-entropy and Chen's mix-training pair."""
    import torch
    import torch.nn.functional as F
    out = FIX / "losses"
    g = torch.Generator().manual_seed(0)
    eps = 1e-7
    b, k = 6, 5
    # Probabilities with values at both clamp edges, soft targets (mixup's).
    p = torch.rand(b, k, generator=g, dtype=torch.float32)
    p[0, 0], p[1, 1], p[2, 2] = 0.0, 1.0, 1e-9
    y = torch.rand(b, k, generator=g, dtype=torch.float32).round()
    y[3] = torch.rand(k, generator=g)  # a soft row
    pr = p.clone().requires_grad_()
    bce = torch.nn.BCELoss()(torch.clamp(pr, eps, 1 - eps), y)
    bce.backward()
    for key, v in dict(p=p, y=y, bce=bce.reshape(1), bce_grad=pr.grad).items():
        save(out / f"bce__{key}.npy", v.detach().numpy())
    # Chen et al. eq. (3): the mean over the three levels of each level's BCE.
    levels = [torch.rand(b, k, generator=g) for _ in range(3)]
    chen = sum(torch.nn.BCELoss()(torch.clamp(o, eps, 1 - eps), y) for o in levels) / 3
    for i, o in enumerate(levels):
        save(out / f"chen__level{i}.npy", o.numpy())
    save(out / "chen__loss.npy", chen.reshape(1).numpy())
    # Jeong & Lim Sec. 3.3: per-clip cross-entropy on softmax outputs; an unverified clip whose
    # loss is not below 0.8 x the batch's largest is dropped; the mean over the kept clips.
    logits = torch.randn(8, k, generator=g) * 2
    probs = F.softmax(logits, dim=1)
    onehot = F.one_hot(torch.arange(8) % k, k).float()
    per = -(onehot * torch.log(torch.clamp(probs, eps, 1.0))).sum(1)
    verified = torch.tensor([1, 0, 0, 1, 0, 0, 0, 1], dtype=torch.bool)
    keep = (verified | (per < 0.8 * per.max())).float()
    masked = (per * keep).sum() / keep.sum().clamp(min=1.0)
    for key, v in dict(probs=probs, y=onehot, per_clip=per, verified=verified.float(), keep=keep,
                       loss=masked.reshape(1)).items():
        save(out / f"jeong_lim__{key}.npy", v.numpy())
    # Chen et al. Sec. 3.2: alpha x_i + (1 - alpha) x_j (the partner zero-padded), label
    # sign(y_i + y_j), at three alphas of U(0.4, 0.6).
    xi, xj = torch.randn(50, generator=g), torch.randn(37, generator=g)
    yi = torch.tensor([1, 0, 0, 1, 0], dtype=torch.float32)
    yj = torch.tensor([0, 0, 1, 1, 0], dtype=torch.float32)
    save(out / "mix__xi.npy", xi.numpy()); save(out / "mix__xj.npy", xj.numpy())
    save(out / "mix__yi.npy", yi.numpy()); save(out / "mix__yj.npy", yj.numpy())
    alphas = [0.4, 0.5, 0.599]
    for i, a in enumerate(alphas):
        a32 = torch.tensor(a, dtype=torch.float32)
        x = a32 * xi + (1 - a32) * F.pad(xj, (0, 50 - 37))
        save(out / f"mix__x{i}.npy", x.numpy())
    save(out / "mix__y.npy", torch.sign(yi + yj).numpy())
    (out / "manifest.json").write_text(json.dumps(dict(torch=torch.__version__, eps=eps,
                                                       alphas=alphas), indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--only", choices=["fbank", "presets", "audio", "metrics", "models", "sampling", "enhance", "rawwave", "densenet", "resnet50", "kernels", "losses", "psla_stats", "layouts"])
    ap.add_argument("--psla-src", type=Path, default=None,
                    help="a checkout of github.com/YuanGongND/psla (for the model fixtures)")
    args = ap.parse_args()
    steps = dict(fbank=lambda: gen_fbank(args.data_dir), presets=lambda: gen_presets(args.data_dir),
                 audio=lambda: gen_audio(args.data_dir), metrics=gen_metrics,
                 models=lambda: gen_models(args.data_dir, args.psla_src),
                 sampling=lambda: gen_sampling(args.data_dir, args.psla_src),
                 enhance=lambda: gen_enhance(args.data_dir, args.psla_src),
                 rawwave=lambda: gen_rawwave(args.data_dir),
                 densenet=lambda: gen_densenet(args.data_dir),
                 resnet50=lambda: gen_resnet50(args.data_dir, args.psla_src),
                 kernels=gen_kernels, losses=gen_losses, layouts=gen_layouts,
                 psla_stats=lambda: gen_psla_stats(args.psla_src))
    for name, step in steps.items():
        if name in ("models", "sampling", "enhance", "resnet50", "psla_stats") and args.psla_src is None:
            if args.only == name:
                ap.error("--psla-src is required for the model fixtures")
            print(f"skipping {name}: pass --psla-src")
            continue
        if args.only in (None, name):
            step()
            print(f"wrote {name} fixtures")


if __name__ == "__main__":
    main()
