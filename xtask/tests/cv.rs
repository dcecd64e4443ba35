//! `cargo xtask cv`: a 3-fold cross-validation ensemble of Hershey et al.'s FC network on real
//! FSDD clips, run as a user runs it (the xtask binary), then run again to show it resumes by
//! reading the finished folds. The ensemble written is checked against a geometric mean computed
//! here from the folds' own test predictions.

use std::path::Path;
use std::process::Command;

const FOLDS: usize = 3;

fn cv(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(["cv", "fsdd-hershey", "--folds", "3", "--data-dir"])
        .arg(data)
        .arg("--out")
        .arg(out);
    for s in ["train.epochs=2", "optim.lr=1e-3"].iter().chain(extra) {
        c.args(["--set", s]);
    }
    c.output().expect("run xtask cv")
}

fn npy(path: &Path) -> tympan_audio::npy::NpyArray {
    tympan_audio::npy::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn three_fold_ensemble_on_fsdd() {
    let Some(data) = tympan_tests::require_data("three_fold_ensemble_on_fsdd") else {
        return;
    };
    let data = data.join("fsdd");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cv");

    let refused = cv(&data, &out, &["data.valid={fraction=0.2}"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("sets data.valid itself"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let run = cv(&data, &out, &[]);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "xtask cv failed:\n{stderr}");

    // Each model validates on its own third of the 2,700 training clips; all share the test set.
    let mut members = Vec::new();
    for i in 0..FOLDS {
        let dir = out.join(format!("fold-{i}"));
        let s = json(&dir.join("summary.json"));
        let sizes: Vec<u64> = s["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        // Training counts examples: every 960 ms patch of the 1,800 clips (a few give two).
        assert_eq!(
            sizes[1], 900,
            "fold {i}: validation is one third: {sizes:?}"
        );
        assert!((1800..1900).contains(&sizes[0]), "fold {i}: {sizes:?}");
        assert_eq!(sizes[2], 300, "fold {i}: FSDD's official test split");
        let split = s["split"].as_str().unwrap();
        assert!(
            split.contains(&format!(
                "fold {i} of a seeded, stratified 3-fold partition"
            )),
            "{split}"
        );
        assert!(s["selected"].is_object(), "fold {i} chose no model");
        members.push(npy(&dir.join("predictions-best.npy")));
    }
    assert_ne!(
        members[0].data, members[1].data,
        "the folds trained different models"
    );

    // The geometric mean, L1-normalised per clip, recomputed here.
    let ens = npy(&out.join("ensemble-predictions.npy"));
    let targets = npy(&out.join("targets.npy"));
    let [n, k] = [ens.shape[0], ens.shape[1]];
    assert_eq!((n, k), (300, 10));
    assert_eq!(targets.shape, ens.shape);
    for r in 0..n {
        let g: Vec<f64> = (0..k)
            .map(|c| {
                let l: f64 = members
                    .iter()
                    .map(|m| (m.data[r * k + c] as f64).max(1e-12).ln())
                    .sum();
                (l / FOLDS as f64).exp()
            })
            .collect();
        let sum: f64 = g.iter().sum();
        for (c, gc) in g.iter().enumerate() {
            let want = gc / sum;
            let got = ens.data[r * k + c] as f64;
            assert!(
                (got - want).abs() < 1e-5,
                "clip {r} class {c}: {got} vs {want}"
            );
        }
    }
    let report = json(&out.join("cv.json"));
    let acc = report["ensemble"]["accuracy"].as_f64().unwrap();
    assert!(acc > 0.3, "ensemble accuracy {acc} is near chance (0.1)");
    let md = std::fs::read_to_string(out.join("cv.md")).unwrap();
    assert!(md.contains("geometric-mean ensemble of 3"), "{md}");

    // Run again: every fold is read, not retrained, and the ensemble is the same.
    let again = cv(&data, &out, &[]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("done, reading it").count(),
        FOLDS,
        "{stderr}"
    );
    assert_eq!(npy(&out.join("ensemble-predictions.npy")).data, ens.data);
}
