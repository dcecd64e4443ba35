//! A run's numbers do not depend on the thread count nor on the machine's load: one epoch of
//! PSLA's pipeline (EfficientNet-Lite0 from the ImageNet weights, balanced sampling, masks,
//! mixup; 16 draws of real FSDD clips) trained by `tympan train` with `RAYON_NUM_THREADS=1`,
//! with 2, and with 2 beside two busy-loop processes (rayon's work stealing then splits the work
//! differently) gives the same predictions, targets, card and metrics rows (but for their
//! seconds), bit for bit.
//! Every random choice is seeded by (seed, epoch, batch, sample), and the parallel kernels split
//! work without changing any sum's order. (Across instruction sets, AVX2 against AVX-512:
//! `tests/isa.rs`.)

use std::process::Command;

#[test]
fn a_run_does_not_depend_on_the_thread_count() {
    let Some(data) = tympan_tests::require_data("a_run_does_not_depend_on_the_thread_count") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = tympan_tests::small_fsdd_manifest(&data, dir.path());
    let weights = data.join("weights/efficientnet-lite0-57934424.pth");
    assert!(weights.is_file(), "{} missing", weights.display());
    let recipe = tympan_tests::workspace_root().join("experiments/fsdd-psla.toml");
    let run = |threads: &str, tag: &str| {
        let out = dir.path().join(format!("threads-{threads}{tag}"));
        let o = Command::new(env!("CARGO_BIN_EXE_tympan"))
            .arg("train")
            .arg(&recipe)
            .arg("--out")
            .arg(&out)
            .args(["--set", r#"data.dataset="csv""#])
            .args([
                "--set",
                &format!("data.data_dir={:?}", manifest.display().to_string()),
            ])
            .args(["--set", "data.test_fold=0"])
            .args([
                "--set",
                &format!("model.pretrained={:?}", weights.display().to_string()),
            ])
            .args(["--set", "train.epochs=1"])
            .args(["--set", "train.draws_per_epoch=16"])
            .args(["--set", "train.batch_size=8"])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{threads} threads{tag}: {log}");
        (out, log)
    };
    let ((one, log), (two, _)) = (run("1", ""), run("2", ""));
    // Two processes that keep both cores busy for the whole third run.
    let mut busy: Vec<_> = (0..2)
        .map(|_| {
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap()
        })
        .collect();
    let (loaded, _) = run("2", "-busy");
    for b in &mut busy {
        b.kill().unwrap();
        b.wait().unwrap();
    }
    for (other, what) in [(&two, "2 threads"), (&loaded, "2 threads beside load")] {
        for f in [
            "predictions.npy",
            "predictions-best.npy",
            "targets.npy",
            "card.json",
            "predictions/epoch-001.npy",
        ] {
            let same = std::fs::read(one.join(f)).unwrap() == std::fs::read(other.join(f)).unwrap();
            assert!(same, "{f} differs between 1 thread and {what}");
        }
        assert_eq!(
            tympan_tests::metrics_rows_without_seconds(&one),
            tympan_tests::metrics_rows_without_seconds(other),
            "1 thread against {what}"
        );
    }
    // stderr is a pipe here: the bars are hidden and every pass ends with a line of its own.
    for pass in [
        "decoding",
        "norm stats",
        "validation",
        "test",
        "best on test",
        "averaged on test",
    ] {
        assert!(
            log.lines()
                .any(|l| l.starts_with(&format!("{pass}: ")) && l.contains("clips/s")),
            "no line for the {pass} pass in:\n{log}"
        );
    }
    assert!(log.contains("epoch   1: batch 2/2"), "{log}");
}
