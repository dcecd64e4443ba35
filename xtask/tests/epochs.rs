//! `cargo xtask epochs` on a real run: Hershey et al.'s FC network, three epochs on real FSDD
//! clips with no validation split (`data.valid = "none"`, PSLA's practice), then the analysis
//! run as a user runs it (the xtask binary). Each epoch's mAP and running-ensemble mAP, computed
//! from the per-epoch predictions the run keeps, must be the ones the run logged in
//! `metrics.csv` while it trained; and the run without validation chose no model.

use std::process::Command;

#[test]
fn epochs_analysis_reproduces_the_run_log() {
    let Some(data) = tympan_tests::require_data("epochs_analysis_reproduces_the_run_log") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = tympan_tests::small_fsdd_manifest(&data, dir.path());
    let text = tympan_tests::hershey_fc_recipe("epochs", &manifest, 8, 3, 0);
    let recipe = tympan_train::Recipe::from_toml(
        &text,
        std::path::Path::new("epochs.toml"),
        &["data.valid=\"none\"".to_string()],
    )
    .unwrap();
    let run = dir.path().join("run");
    let summary = tympan_tests::train_on_flex(&recipe, &run).unwrap();
    // No validation split: nothing chosen, no best model, the validation columns empty.
    assert!(summary.selected.is_none() && summary.best_epoch.is_none());
    assert!(!run.join("model-best.bpk").exists());
    assert_eq!(summary.sizes[1], 0);

    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("epochs")
        .arg(&run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("3 epochs") && stdout.contains("Spearman"),
        "{stdout}"
    );

    let logged: Vec<Vec<String>> = std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let rows: Vec<Vec<f64>> = std::fs::read_to_string(run.join("epochs.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    for (row, log) in rows.iter().zip(&logged) {
        let col = |i: usize| log[i].parse::<f64>().unwrap();
        assert_eq!(row[0], col(0), "epoch");
        // metrics.csv: test_mAP is column 8, test_ensemble_mAP 13; epochs.csv writes 6 decimals.
        assert!(
            (row[1] - col(8)).abs() <= 1e-6,
            "epoch {}: mAP {} against {}",
            row[0],
            row[1],
            col(8)
        );
        assert!(
            (row[4] - col(13)).abs() <= 1e-6,
            "epoch {}: ensemble {} against {}",
            row[0],
            row[4],
            col(13)
        );
        assert!(
            log[3].is_empty() || log[3] == "NaN",
            "validation mAP without a split: {:?}",
            log[3]
        );
    }
    assert_eq!(
        rows[0][1], rows[0][4],
        "an ensemble of one epoch is that epoch"
    );
    let ens = summary.checkpoint_ensemble.map;
    assert!(
        (rows[2][4] - ens).abs() <= 1e-6,
        "{} against the summary's {ens}",
        rows[2][4]
    );

    let classes = std::fs::read_to_string(run.join("class_ap.csv")).unwrap();
    let train_labels: usize = classes
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<usize>().unwrap())
        .sum();
    // One label per FSDD clip, one VGGish patch per clip under 960 ms.
    assert_eq!(train_labels, summary.sizes[0]);
    assert_eq!(classes.lines().count(), 1 + 3, "digits 0-2");
}
