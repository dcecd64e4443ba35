//! A short real training run, as CI's proof that the whole pipeline learns: 300 FSDD recordings
//! (all six speakers, takes 5-9), Hershey et al.'s fully connected baseline on one 96x64 VGGish
//! patch, five epochs; 120 held-out recordings (takes 0-1). The loss must fall and the held-out
//! accuracy must clear chance (0.1) by a wide margin. Runs in seconds.

use std::path::Path;

use burn::prelude::Device;
use tympan_train::{Recipe, RunOptions, run};

const SPEAKERS: [&str; 6] = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"];

#[test]
fn a_short_fsdd_run_learns() {
    let Some(data) = tympan_tests::require_data("a_short_fsdd_run_learns") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let takes: Vec<u32> = (0..2).chain(5..10).collect();
    let manifest =
        tympan_tests::fsdd_manifest(&data, dir.path(), 0..10, &SPEAKERS, &takes, |t| t >= 5);
    let text =
        tympan_tests::hershey_fc_recipe("learns", &manifest, 16, 5, 3) + "validate_every = 40\n";
    let recipe = Recipe::from_toml(&text, Path::new("learns.toml"), &[]).unwrap();
    let out = dir.path().join("run");
    let mut sink = |_e| {};
    let summary = run(
        &recipe,
        RunOptions {
            device: Device::flex(),
            data_parallel: Vec::new(),
            out_dir: out.clone(),
            resume: false,
            stop_after: None,
            on_event: &mut sink,
        },
    )
    .unwrap();
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let losses = tympan_tests::epoch_losses(&metrics);
    assert_eq!(losses.len(), 5, "{metrics}");
    assert!(losses[4] < 0.7 * losses[0], "loss did not fall: {losses:?}");
    let acc = summary.last_epoch.accuracy;
    assert!(acc > 0.4, "held-out accuracy {acc} (chance 0.1)\n{metrics}");
    assert!(out.join("curves.svg").is_file() && out.join("per_class_ap.svg").is_file());
    // 19 batches an epoch, 95 steps: mid-epoch validations at steps 40 and 80 (Jeong & Lim's
    // "validate every N iterations"), each a row of validation.csv; a best model is kept.
    let validation = std::fs::read_to_string(out.join("validation.csv")).unwrap();
    let steps: Vec<&str> = validation
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["40", "80"], "{validation}");
    assert!(out.join("model-best.bpk").is_file());
    eprintln!("losses {losses:?}, held-out accuracy {acc}");
}
