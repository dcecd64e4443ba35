//! End-to-end training on real FSDD clips: a run killed after one epoch and resumed gives the
//! same result as an uninterrupted run with the same seed; weight averaging and the checkpoint
//! ensemble are produced; the experiment folder holds what the docs promise.
//!
//! The model is Dai et al.'s M3 on raw waveforms, which trains in seconds; the SIGKILL test
//! (`xtask/tests/kill_resume.rs`) covers PSLA's EfficientNet-Lite0 as well.

mod common;

use std::path::Path;

use common::{json, manifest, recipe, train};

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let Some(data) = tympan_tests::require_data("resumed_run_equals_uninterrupted_run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(&manifest(&data, dir.path()));

    let a = dir.path().join("a");
    let full = train(&r, &a, false, None).unwrap();

    let b = dir.path().join("b");
    let err = train(&r, &b, false, Some(1)).unwrap_err();
    assert!(
        matches!(err, tympan_train::TrainError::Stopped { done: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--resume"), "{err}");
    let resumed = train(&r, &b, true, None).unwrap();

    assert_eq!(json(&full), json(&resumed), "summaries differ");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let strip_time = |s: String| {
        s.lines()
            .map(|l| l.rsplit_once(',').map_or(l, |x| x.0).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip_time(read(&a.join("metrics.csv"))),
        strip_time(read(&b.join("metrics.csv")))
    );
    assert_eq!(
        std::fs::read(a.join("predictions.npy")).unwrap(),
        std::fs::read(b.join("predictions.npy")).unwrap()
    );

    for f in [
        "config.toml",
        "metrics.csv",
        "summary.json",
        "per_class_ap.csv",
        "model-last.bpk",
        "model-wa.bpk",
    ] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    assert_eq!(read(&a.join("metrics.csv")).lines().count(), 4);
    assert!(full.weight_averaged.is_some() && full.weight_averaged_params_only.is_some());
    assert_eq!(full.per_class_ap.len(), 3);
    assert!((0.0..=1.0).contains(&full.last_epoch.accuracy));
}
