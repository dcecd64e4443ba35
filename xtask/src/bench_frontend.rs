//! `cargo xtask bench frontend`: decode + PSLA features + `.npy` write over a folder of 10 s,
//! 16 kHz clips on one core, tympan against torchaudio's `kaldi.fbank` pipeline (PSLA's
//! `_wav2fbank` in eval mode) in the same run, with the same inputs, checking the outputs agree.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use tympan_audio::{LoadOptions, Preset, load::load, npy};

const RATE: u32 = 16_000;
const LEN: usize = 10 * RATE as usize;

/// The torchaudio side, PSLA's dataloader in eval mode. WAVs are read with the `wave` module
/// (int16 / 32768, exactly torchaudio.load's scaling) because torchaudio >= 2.9 delegates
/// `load` to torchcodec.
const PY: &str = r#"
import json, sys, time, wave
from pathlib import Path
import numpy as np, torch, torchaudio.compliance.kaldi as kaldi
torch.set_num_threads(1)
src, dst = Path(sys.argv[1]), Path(sys.argv[2]); dst.mkdir(parents=True, exist_ok=True)
files = sorted(src.glob("*.wav"))
def one(f):
    with wave.open(str(f), "rb") as w:
        sr = w.getframerate(); x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    waveform = torch.from_numpy(x.astype(np.float32) / 32768.0)[None, :]
    waveform = waveform - waveform.mean()
    fb = kaldi.fbank(waveform, htk_compat=True, sample_frequency=sr, use_energy=False,
                     window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)
    p = 1056 - fb.shape[0]
    fb = torch.nn.ZeroPad2d((0, 0, 0, p))(fb) if p > 0 else fb[:1056]
    np.save(dst / (f.stem + ".npy"), ((fb - (-4.6476)) / 4.5699).numpy())
for f in files[:5]: one(f)   # warm-up
t = time.perf_counter()
for f in files: one(f)
print(json.dumps({"seconds": time.perf_counter() - t, "clips": len(files),
                  "torch": torch.__version__}))
"#;

fn write_wav16(path: &Path, samples: &[f32], rate: u32) -> Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| path.display().to_string())?,
    );
    let data_len = (samples.len() * 2) as u32;
    f.write_all(b"RIFF")?;
    f.write_all(&(36 + data_len).to_le_bytes())?;
    f.write_all(b"WAVEfmt ")?;
    f.write_all(&16u32.to_le_bytes())?;
    f.write_all(&1u16.to_le_bytes())?;
    f.write_all(&1u16.to_le_bytes())?;
    f.write_all(&rate.to_le_bytes())?;
    f.write_all(&(rate * 2).to_le_bytes())?;
    f.write_all(&2u16.to_le_bytes())?;
    f.write_all(&16u16.to_le_bytes())?;
    f.write_all(b"data")?;
    f.write_all(&data_len.to_le_bytes())?;
    for &s in samples {
        f.write_all(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())?;
    }
    Ok(())
}

/// 10 s, 16 kHz, 16-bit clips made from real audio (looped to 10 s).
pub(crate) fn prepare_clips(data: &Path, n: usize, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut sources = vec![data.join("audioset/R9_ZSCveAHg_7s.wav")];
    let us8k = data.join("urbansound8k/UrbanSound8K/audio/fold1");
    let mut more: Vec<PathBuf> = std::fs::read_dir(&us8k)
        .with_context(|| format!("{}: need the shared data (--data-dir)", us8k.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    more.sort();
    sources.extend(more);
    std::fs::create_dir_all(dir)?;
    let pb = ProgressBar::new(n as u64).with_message("preparing clips");
    let mut out = Vec::with_capacity(n);
    for (i, src) in sources.iter().cycle().take(n).enumerate() {
        let path = dir.join(format!("clip{i:04}.wav"));
        if !path.exists() {
            let w = load(src, &LoadOptions::at_rate(RATE))?;
            let x: Vec<f32> = w.samples.iter().cycle().take(LEN).copied().collect();
            write_wav16(&path, &x, RATE)?;
        }
        out.push(path);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(out)
}

fn tympan_one(clip: &Path, out_dir: &Path) -> Result<()> {
    let w = load(clip, &LoadOptions::default())?;
    let f = Preset::psla()
        .extractor(w.sample_rate)?
        .compute(&w.samples)?;
    let stem = clip.file_stem().context("clip name")?;
    npy::write(
        &out_dir.join(stem).with_extension("npy"),
        &f.data,
        &[f.frames, f.bins],
    )?;
    Ok(())
}

pub fn run(data: &Path, n: usize, python: &str, work: &Path) -> Result<()> {
    if n < 5 {
        bail!("--clips must be at least 5");
    }
    let clips_dir = work.join(format!("clips-{n}"));
    let clips = prepare_clips(data, n, &clips_dir)?;
    let rust_out = work.join("out-tympan");
    std::fs::create_dir_all(&rust_out)?;

    // tympan, one core (this thread only).
    for c in &clips[..5] {
        tympan_one(c, &rust_out)?;
    }
    let t = Instant::now();
    for c in &clips {
        tympan_one(c, &rust_out)?;
    }
    let rust_s = t.elapsed().as_secs_f64();
    let rust_cps = n as f64 / rust_s;
    println!("tympan      {n} clips in {rust_s:.2} s = {rust_cps:.1} clips/s (one core)");

    if python == "none" {
        return Ok(());
    }
    let py_out = work.join("out-torchaudio");
    let script = work.join("bench_torchaudio.py");
    std::fs::write(&script, PY)?;
    let o = Command::new(python)
        .arg(&script)
        .arg(&clips_dir)
        .arg(&py_out)
        .env("OMP_NUM_THREADS", "1")
        .output();
    let o = match o {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            println!(
                "torchaudio  unavailable: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return Ok(());
        }
        Err(e) => {
            println!("torchaudio  unavailable: cannot run {python}: {e}");
            return Ok(());
        }
    };
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).context("torchaudio output")?;
    let py_s = r["seconds"].as_f64().context("seconds")?;
    let py_cps = n as f64 / py_s;
    println!(
        "torchaudio  {n} clips in {py_s:.2} s = {py_cps:.1} clips/s (one core, torch {})",
        r["torch"]
    );

    // Same numbers? (torchaudio in float32 vs tympan in f64: differences come from float32 FFT
    // rounding in near-silent bins; see tests/README.md.)
    let mut worst = 0.0f32;
    for c in &clips {
        let stem = c.file_stem().context("clip name")?;
        let a = npy::read(&rust_out.join(stem).with_extension("npy"))?;
        let b = npy::read(&py_out.join(stem).with_extension("npy"))?;
        if a.shape != b.shape {
            bail!(
                "{}: shapes differ: {:?} vs {:?}",
                c.display(),
                a.shape,
                b.shape
            );
        }
        worst = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).abs())
            .fold(worst, f32::max);
    }
    println!("max |tympan - torchaudio| over all outputs: {worst:.2e} (normalised fbank units)");
    println!(
        "ratio: tympan is {:.2}x torchaudio's clips/s",
        rust_cps / py_cps
    );
    Ok(())
}
