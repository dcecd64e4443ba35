//! `cargo xtask bench tag --arch NAME` for the families other than PSLA: `tympan tag --run DIR`
//! on a folder of 10 s, 16 kHz clips (decode, resampling, windows, front end and model: the whole
//! command, one process for all files, whose windows share forward passes across files),
//! against `scripts/bench_tag_family.py` running the family's PyTorch transcription (the one
//! `cargo xtask bench train` times) on the same files, following the same `card.json`, in the same
//! run. PyTorch's time is the faster of its two loops: windows shared across files as tympan
//! shares them, and each file's windows alone.
//!
//! The run folder is made here, as `cargo xtask train` would leave it: the registry's input
//! contract, 527 placeholder classes, 16 windows per forward pass and a `model-last.bpk`. Its
//! weights are the script's (seed 0, untrained) where its state dict loads into the tympan model
//! with no key missing or left over, so the two sets of scores must then agree up to the two
//! front ends' arithmetic; otherwise tympan's own initialisation, and only time is compared.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tympan::infer::{CARD_FORMAT, Checkpoint, ModelCard};
use tympan_models::{Backend, TorchLoadOptions, create, info, load_pytorch, save_burnpack};

use crate::bench_tag::{max_difference, run_script, time_tag, tympan_binary};

/// The models `scripts/bench_families.py` transcribes: one or two of each family but PSLA's.
pub const ARCHS: [&str; 6] = [
    "hershey-vgg",
    "hershey-resnet50",
    "m34-res-rb1",
    "slim2d-rb1",
    "densenet-logmel",
    "chen-resnet-small",
];

/// Classes of the benchmarked models (AudioSet's count, as `cargo xtask bench train` uses).
const CLASSES: usize = 527;

/// Windows per forward pass in the run's card (`tympan tag`'s batch for weights alone).
const WINDOW_BATCH: usize = 16;

/// Options of `cargo xtask bench tag --arch NAME`.
pub struct Options<'a> {
    /// Shared data folder the clips are cut from.
    pub data_dir: &'a Path,
    /// Number of 10 s clips.
    pub clips: usize,
    /// One of [`ARCHS`].
    pub arch: &'a str,
    /// Python with torch, torchaudio and torchvision.
    pub python: &'a str,
    /// Work folder.
    pub work: &'a Path,
    /// The `tympan` binary (default: beside this xtask binary).
    pub tympan: Option<&'a Path>,
}

/// The run folder `tympan tag --run` reads: the card now, the model once the script's weights
/// are known.
fn write_card(arch: &str, dir: &Path) -> Result<()> {
    let model = info(arch)?;
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    ModelCard {
        format: CARD_FORMAT,
        arch: arch.to_string(),
        input: model.input,
        output: model.output,
        classes: (0..CLASSES).map(|i| format!("class {i}")).collect(),
        checkpoints: vec![Checkpoint::Last.file_name().to_string()],
        eval_batch_size: WINDOW_BATCH,
        source: "cargo xtask bench tag".into(),
    }
    .write(dir)?;
    Ok(())
}

/// The script's weights in the tympan model where every key matches, else tympan's own
/// initialisation with the reason; saved as the run's `model-last.bpk`.
fn write_model(arch: &str, weights: &Path, dir: &Path) -> Result<Option<String>> {
    let device = Backend::Flex.device()?;
    let mut model = create(arch, CLASSES, &device)?;
    let mismatch = match load_pytorch(&mut model, weights, &TorchLoadOptions::default()) {
        Ok(report) if report.is_complete() => None,
        Ok(report) => Some(report.to_string()),
        Err(e) => Some(e.to_string()),
    };
    if mismatch.is_some() {
        model = create(arch, CLASSES, &device)?;
    }
    save_burnpack(&model, &dir.join(Checkpoint::Last.file_name()))?;
    Ok(mismatch)
}

/// Prepare the clips and the run folder, run PyTorch then tympan, and print clips/s, the ratio
/// and, where the weights are shared, the agreement.
pub fn run(o: &Options<'_>) -> Result<()> {
    if o.clips < 2 {
        bail!("--clips must be at least 2");
    }
    if !ARCHS.contains(&o.arch) {
        bail!(
            "--arch {}: expected psla, families or one of {}",
            o.arch,
            ARCHS.join(", ")
        );
    }
    let tympan = tympan_binary(o.tympan)?;
    crate::python_ref::check_python(
        o.python,
        &["torch", "torchaudio", "torchvision", "numpy"],
        false,
    )?;
    let clips_dir = o.work.join(format!("clips-{}", o.clips));
    let files = crate::bench_frontend::prepare_clips(o.data_dir, o.clips, &clips_dir)?;
    let run_dir = o.work.join(format!("run-{}", o.arch));
    write_card(o.arch, &run_dir)?;
    let weights = o.work.join(format!("{}-seed0.pth", o.arch));
    let torch_scores = o.work.join(format!("scores-torch-{}.npy", o.arch));
    let contract = info(o.arch)?.input;
    println!(
        "tagging {} clips of 10 s at 16 kHz with {} ({} input, {} classes), `tympan tag --run` against its PyTorch transcription",
        files.len(),
        o.arch,
        contract.input,
        CLASSES
    );
    let v = run_script(
        o.python,
        "bench_tag_family.py",
        [&clips_dir, &weights, &torch_scores],
        &[
            "--arch".as_ref(),
            o.arch.as_ref(),
            "--run".as_ref(),
            run_dir.as_os_str(),
        ],
    )?;
    // PyTorch's faster loop: windows shared across files as tympan shares them, or each file's
    // alone (the script's docstring).
    let shared_s = v["seconds"].as_f64().context("seconds")?;
    let alone_s = v["seconds_per_file"].as_f64().context("seconds_per_file")?;
    let py_s = shared_s.min(alone_s);
    let mismatch = write_model(o.arch, &weights, &run_dir)?;
    // The script imported torch and ran the model: let the machine settle before timing tympan
    // (bench_train's SETTLE, same reason).
    std::thread::sleep(crate::bench_train::SETTLE);

    let mut sorted: Vec<PathBuf> = files.clone();
    sorted.sort();
    let model: Vec<OsString> = vec![
        "--run".into(),
        run_dir.clone().into(),
        "--checkpoint".into(),
        "last".into(),
    ];
    let ours_path = o.work.join(format!("scores-tympan-{}.npy", o.arch));
    let (ours_s, ours_mem) = time_tag(&tympan, &model, &sorted, &ours_path)?;
    let n = files.len() as f64;
    println!(
        "PyTorch ({} transcription, {} windows; torch {}, {} threads): {py_s:.2} s = {:.2} clips/s \
         (the faster of: windows shared across files {shared_s:.2} s, each file alone {alone_s:.2} s)",
        o.arch,
        v["windows"],
        v["torch"],
        v["threads"],
        n / py_s
    );
    println!(
        "tympan tag --run: {ours_s:.2} s = {:.2} clips/s (whole command)",
        n / ours_s
    );
    match mismatch {
        None => println!(
            "same weights; max |tympan - PyTorch| over all scores: {:.2e}",
            max_difference(&ours_path, &torch_scores)?
        ),
        Some(why) => {
            let keys = o.work.join(format!("{}-keys.txt", o.arch));
            std::fs::write(&keys, &why).with_context(|| keys.display().to_string())?;
            println!(
                "scores not compared: the transcription's state dict does not load by name \
                 (tympan's initialisation used; the keys: {})",
                keys.display()
            )
        }
    }
    crate::bench_tag::print_memory_and_ratio(ours_mem, &v, py_s / ours_s);
    Ok(())
}
