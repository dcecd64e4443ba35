//! `cargo xtask bench tag`: `tympan tag` with PSLA's EfficientNet-B<b> + 4-head attention on a
//! folder of 10 s, 16 kHz clips (decode + fbank + model, one process for all files), against
//! PyTorch running PSLA's own `EffNetAttention` on torchaudio fbanks of the same files
//! (`scripts/bench_tag.py`), in the same run, with the same weights: the script writes its
//! randomly initialised state dict and `tympan tag --weights` reads it, so the two sets of
//! scores must agree as well.
//!
//! tympan's time is the whole command (process start and weight loading included); PyTorch's is
//! its loop over the files after imports and model construction. A one-file `tympan tag` run is
//! timed too, to show the fixed cost.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use tympan_audio::npy;

/// Options of `cargo xtask bench tag`.
pub struct Options<'a> {
    /// Shared data folder the clips are cut from.
    pub data_dir: &'a Path,
    /// Number of 10 s clips.
    pub clips: usize,
    /// EfficientNet-B<b>.
    pub b: usize,
    /// Python with torch, torchaudio and efficientnet_pytorch.
    pub python: &'a str,
    /// A clone of YuanGongND/psla.
    pub psla_src: &'a Path,
    /// Work folder.
    pub work: &'a Path,
    /// The `tympan` binary (default: beside this xtask binary).
    pub tympan: Option<&'a Path>,
}

/// The `tympan` binary that the workspace build puts beside xtask's.
pub(crate) fn tympan_binary(given: Option<&Path>) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .context("xtask's folder")?
            .join(format!("tympan{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!(
            "{}: no tympan binary; build it with `cargo test --workspace --no-run` (the README's build) or pass --tympan PATH",
            path.display()
        );
    }
    if given.is_none() {
        warn_if_older(&path)?;
    }
    Ok(path)
}

/// `cargo xtask` rebuilds xtask but not the `tympan` binary beside it: one left from an earlier
/// build times the code of that build (a session measured a stale binary this way, 2026-12-06).
fn warn_if_older(tympan: &Path) -> Result<()> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
    let ours = std::env::current_exe()?;
    // One `cargo build` links both within seconds; a minute apart means separate builds.
    if let (Ok(t), Ok(x)) = (modified(tympan), modified(&ours))
        && t + std::time::Duration::from_secs(60) < x
    {
        eprintln!(
            "note: {} is older than this xtask build; if library code changed since, rebuild it first (`cargo build -p tympan`) or pass --tympan PATH",
            tympan.display()
        );
    }
    Ok(())
}

/// The `tympan tag` arguments that name PSLA's B<b> from the script's weights.
fn psla_model_args(o: &Options<'_>, weights: &Path) -> Result<Vec<OsString>> {
    // Weights alone need their class names and normalisation: 527 placeholder names, and PSLA's
    // AudioSet statistics, which scripts/bench_tag.py uses.
    let labels = o.work.join("labels-527.txt");
    let names: String = (0..527).map(|i| format!("class {i}\n")).collect();
    std::fs::write(&labels, names).with_context(|| labels.display().to_string())?;
    let (mean, std) = (
        tympan_audio::presets::PSLA_MEAN.to_string(),
        tympan_audio::presets::PSLA_STD.to_string(),
    );
    Ok([
        "--arch".into(),
        format!("psla-effnet-b{}", o.b).into(),
        "--weights".into(),
        weights.into(),
        "--labels".into(),
        labels.into(),
        "--mean".into(),
        mean.into(),
        "--std".into(),
        std.into(),
    ]
    .into())
}

/// Run `tympan <model> tag` on `files` with the scores written to `out`, returning its wall
/// time and peak memory.
pub(crate) fn time_tag(
    tympan: &Path,
    model: &[OsString],
    files: &[PathBuf],
    out: &Path,
) -> Result<(f64, Option<f64>)> {
    // A child started by vfork (posix_spawn) takes the parent's peak resident size as its own
    // at exec (Linux's `ru_maxrss`): start this process's count over first, or a model the
    // caller loaded (`bench_tag_family` writes one) shows up as tympan's peak.
    crate::peak_memory::reset_own_peak();
    let t = Instant::now();
    let child = Command::new(tympan)
        .arg("tag")
        .args(model)
        .args(["--top-k", "1", "--format", "json"])
        .arg("-o")
        .arg(out)
        .args(files)
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("running {}", tympan.display()))?;
    let (status, peak) = crate::peak_memory::wait_with_peak(child)?;
    let s = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!("{} tag failed ({status})", tympan.display());
    }
    Ok((s, peak))
}

/// The largest absolute difference between two score files of the same shape.
pub(crate) fn max_difference(ours: &Path, theirs: &Path) -> Result<f32> {
    let ours = npy::read(ours)?;
    let theirs = npy::read(theirs)?;
    if ours.shape != theirs.shape {
        bail!(
            "score shapes differ: tympan {:?}, PyTorch {:?}",
            ours.shape,
            theirs.shape
        );
    }
    Ok(ours
        .data
        .iter()
        .zip(&theirs.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max))
}

/// Run `python script --clips C --weights-out W --scores-out S args...` (a tag benchmark's
/// script in scripts/ of the workspace: the clips it reads, the seed-0 weights and the scores it
/// writes) and return the last JSON line it printed; a failed run is an error with the script's
/// stderr.
pub(crate) fn run_script(
    python: &str,
    script: &str,
    [clips, weights_out, scores_out]: [&Path; 3],
    args: &[&OsStr],
) -> Result<serde_json::Value> {
    let script = crate::workspace_root().join("scripts").join(script);
    let out = Command::new(python)
        .arg(&script)
        .arg("--clips")
        .arg(clips)
        .arg("--weights-out")
        .arg(weights_out)
        .arg("--scores-out")
        .arg(scores_out)
        .args(args)
        .output()
        .with_context(|| format!("running {python} {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    crate::bench_train::last_json(&out.stdout)
}

/// The memory and ratio lines both tag benchmarks end with.
pub(crate) fn print_memory_and_ratio(ours_mem: Option<f64>, v: &serde_json::Value, ratio: f64) {
    println!(
        "peak memory (whole process; PyTorch's with the interpreter and torch): tympan tag {}, PyTorch {}",
        crate::peak_memory::show(ours_mem),
        crate::peak_memory::show(v["peak_rss_mib"].as_f64())
    );
    println!("ratio: tympan tag is {ratio:.2}x PyTorch's clips/s");
}

/// Prepare the clips, run PyTorch then tympan, and print clips/s, the ratio and the agreement.
pub fn run(o: &Options<'_>) -> Result<()> {
    if o.clips < 2 {
        bail!("--clips must be at least 2");
    }
    let tympan = tympan_binary(o.tympan)?;
    let clips_dir = o.work.join(format!("clips-{}", o.clips));
    crate::python_ref::check_psla(o.psla_src)?;
    crate::python_ref::check_python(
        o.python,
        &["torch", "torchaudio", "numpy", "efficientnet_pytorch"],
        false,
    )?;
    let files = crate::bench_frontend::prepare_clips(o.data_dir, o.clips, &clips_dir)?;
    let weights = o.work.join(format!("psla-b{}-seed0.pth", o.b));
    let torch_scores = o.work.join("scores-torch.npy");
    println!(
        "tagging {} clips of 10 s at 16 kHz with PSLA EfficientNet-B{} + 4-head attention, 527 classes",
        files.len(),
        o.b
    );
    let b = o.b.to_string();
    let v = run_script(
        o.python,
        "bench_tag.py",
        [&clips_dir, &weights, &torch_scores],
        &[
            "--psla-src".as_ref(),
            o.psla_src.as_os_str(),
            "--b".as_ref(),
            b.as_ref(),
        ],
    )?;
    let py_s = v["seconds"].as_f64().context("seconds")?;
    let n = files.len() as f64;

    // Sorted as the script sorts them, so that rows line up.
    let mut sorted = files.clone();
    sorted.sort();
    let model = psla_model_args(o, &weights)?;
    let (one, _) = time_tag(
        &tympan,
        &model,
        &sorted[..1],
        &o.work.join("scores-one.npy"),
    )?;
    let ours_path = o.work.join("scores-tympan.npy");
    let (ours_s, ours_mem) = time_tag(&tympan, &model, &sorted, &ours_path)?;
    let worst = max_difference(&ours_path, &torch_scores)?;
    println!(
        "PyTorch (PSLA's EffNetAttention, torchaudio fbank; torch {}, {} threads): {py_s:.2} s = {:.2} clips/s",
        v["torch"],
        v["threads"],
        n / py_s
    );
    println!(
        "tympan tag: {ours_s:.2} s = {:.2} clips/s (whole command; one file alone: {one:.2} s)",
        n / ours_s
    );
    println!("max |tympan - PyTorch| over all scores: {worst:.2e}");
    print_memory_and_ratio(ours_mem, &v, py_s / ours_s);
    Ok(())
}
