//! A real kill loses nothing: `cargo xtask train` is stopped with SIGKILL in the middle of an
//! epoch, during an evaluation and while a checkpoint is being written, then rerun with
//! `--resume`; every time its `metrics.csv` (apart from the seconds column), `summary.json`,
//! predictions, per-class table, plots and models (last, best, weight-averaged) equal, bit for
//! bit, those of a run that was never interrupted. Three families: Hershey's FC net on log-mel
//! patches, an M-net (M10-res with RB1, raw waveforms, Glorot init, L2, a plateau schedule on
//! validation accuracy), and PSLA's EfficientNet-Lite0 with ImageNet initialisation, balanced
//! sampling, masking, mixup and drop-connect.
//!
//! The process waits at the chosen point (`TYMPAN_PAUSE_AT`, see `engine/pause.rs`) and is
//! killed from here with SIGKILL (`Child::kill`), so nothing of it runs after the signal.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One recipe, shrunk by `--set` to a few steps, and where to kill it.
struct Case {
    recipe: &'static str,
    arch: &'static str,
    set: &'static [&'static str],
    points: &'static [&'static str],
}

/// Three epochs, weight averaging over the last two, an in-epoch validation every 30 steps.
const HERSHEY: Case = Case {
    recipe: "fsdd-hershey",
    arch: "hershey-fc",
    set: &[
        "train.epochs=3",
        "aggregate.wa_start=2",
        "aggregate.wa_end=3",
        "train.validate_every=30",
    ],
    points: &["batch@2:40", "evaluate@2", "checkpoint@2"],
};

/// fsdd-m34-res with M10-res (one residual block per stage) at three epochs of eight batches of
/// 32 (`sampler = "uniform"` with `train.draws_per_epoch`), an in-epoch validation every 4 steps
/// on a 3% validation carve, weight averaging over the last two.
const M10_RES: Case = Case {
    recipe: "fsdd-m34-res",
    arch: "m10-res-rb1",
    set: &[
        "model.arch=m10-res-rb1",
        "train.epochs=3",
        "train.draws_per_epoch=256",
        "train.validate_every=4",
        "data.valid={fraction=0.03}",
        "aggregate.wa_start=2",
        "aggregate.wa_end=3",
    ],
    points: &["batch@2:5", "evaluate@2", "checkpoint@2"],
};

/// fsdd-psla at three epochs of three balanced batches of 32 (no warm-up, which would hold the
/// rate at 0 for PSLA's first 50 steps), a 3% validation carve, weight averaging over the last
/// two.
const PSLA_LITE0: Case = Case {
    recipe: "fsdd-psla",
    arch: "psla-effnet-lite0",
    set: &[
        "train.epochs=3",
        "train.draws_per_epoch=96",
        "data.valid={fraction=0.03}",
        "optim.warmup_iters=0",
        "aggregate.wa_start=2",
        "aggregate.wa_end=3",
    ],
    points: &["batch@2:1", "evaluate@2", "checkpoint@2"],
};

fn train(
    case: &Case,
    data: &Path,
    out: &Path,
    resume: bool,
    pause: Option<(&str, &Path)>,
) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(["train", case.recipe, "--data-dir"])
        .arg(data)
        .arg("--out")
        .arg(out);
    for s in case.set {
        c.args(["--set", s]);
    }
    if resume {
        c.arg("--resume");
    }
    if let Some((at, file)) = pause {
        c.env("TYMPAN_PAUSE_AT", at).env("TYMPAN_PAUSE_FILE", file);
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn run_to_end(mut c: Command) {
    let out = c.output().expect("run xtask");
    assert!(
        out.status.success(),
        "xtask failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a run that pauses at `at`, waits until it is there, and kills it with SIGKILL.
fn kill_at(case: &Case, data: &Path, out: &Path, at: &str) {
    let flag = out.with_extension("paused");
    let mut child = train(case, data, out, false, Some((at, &flag)))
        .stderr(Stdio::null())
        .spawn()
        .expect("start xtask");
    let start = Instant::now();
    while !flag.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{at}: the run ended ({status}) before reaching the pause point");
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "{at}: not reached in 15 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert!(!status.success(), "{at}: killed run reported success");
}

/// Every float of a saved 10-class model, as bits.
fn weights(arch: &str, path: &Path) -> Vec<u32> {
    let device = burn::prelude::Device::flex();
    let template = tympan_models::create(arch, 10, &device).unwrap();
    let model = tympan_models::load_burnpack(template, path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tympan_models::weight_bits(&model)
}

/// `metrics.csv` without its last (seconds) column.
fn metrics_rows(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(a, _)| a).to_string())
        .collect()
}

fn sigkill_then_resume(case: &Case) {
    let Some(data) = tympan_tests::require_data("sigkill_then_resume") else {
        return;
    };
    let fsdd = data.join("fsdd");
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    run_to_end(train(case, &fsdd, &reference, false, None));
    let want_rows = metrics_rows(&reference);
    assert_eq!(want_rows.len(), 4, "header + 3 epochs: {want_rows:?}");
    let read = |dir: &Path, f: &str| {
        std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
    };
    for at in case.points {
        let dir = tmp.path().join(at.replace(['@', ':'], "-"));
        kill_at(case, &fsdd, &dir, at);
        assert!(
            !dir.join("summary.json").exists(),
            "{at}: the killed run got to the end"
        );
        run_to_end(train(case, &fsdd, &dir, true, None));
        assert_eq!(
            metrics_rows(&dir),
            want_rows,
            "{}, {at}: metrics.csv",
            case.recipe
        );
        // Every output a resume touches, plots included (validation.csv where in-epoch
        // evaluations run).
        let outputs = [
            "summary.json",
            "predictions.npy",
            "predictions-best.npy",
            "targets.npy",
            "per_class_ap.csv",
            "per_class_ap.svg",
            "curves.svg",
            "validation.csv",
        ];
        for f in outputs
            .into_iter()
            .filter(|f| *f != "validation.csv" || reference.join(f).exists())
        {
            assert!(
                read(&dir, f) == read(&reference, f),
                "{}, {at}: {f} differs",
                case.recipe
            );
        }
        // Models: the same weights bit for bit (the files also hold per-process parameter ids).
        for f in ["model-wa.bpk", "model-last.bpk", "model-best.bpk"] {
            assert!(
                weights(case.arch, &dir.join(f)) == weights(case.arch, &reference.join(f)),
                "{}, {at}: {f} differs",
                case.recipe
            );
        }
    }
}

#[test]
fn sigkill_at_any_point_then_resume_equals_the_uninterrupted_run() {
    sigkill_then_resume(&HERSHEY);
}

#[test]
fn sigkill_then_resume_is_exact_for_an_m_net() {
    sigkill_then_resume(&M10_RES);
}

#[test]
fn sigkill_then_resume_is_exact_for_psla_lite0() {
    sigkill_then_resume(&PSLA_LITE0);
}
