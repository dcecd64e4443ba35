//! A checkpoint write that fails leaves the last good state. Its own test binary: Burn's device
//! RNG is process-wide, so two training tests in one process would draw from each other's
//! stream.
//!
//! The model is Dai et al.'s M3 on raw waveforms, which trains in seconds. With EfficientNet
//! models, resumed runs currently match to about 1e-4 in the training loss, not bit for bit (see
//! docs/training.md).

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use tympan_train::{Recipe, RunOptions, Summary, TrainError, run};

fn manifest(data: &Path, dir: &Path) -> PathBuf {
    // 3 digits x (3 train + 1 test) real recordings; fold 0 = test.
    tympan_tests::fsdd_manifest(data, dir, 0..3, &["jackson"], &[0, 10, 11, 12], |t| t != 0)
}

fn recipe(manifest: &Path) -> Recipe {
    let text = format!(
        r#"
name = "resume-test"
[data]
dataset = "csv"
data_dir = {:?}
test_fold = 0
[features]
target_length = 4000
input = "waveform"
[model]
arch = "m3"
[optim]
lr = 1e-3
warmup_iters = 2
schedule = {{ kind = "multistep", from_epoch = 1, every = 1, gamma = 0.5 }}
[train]
batch_size = 3
epochs = 3
sampler = "balanced"
mixup = 0.5
seed = 7
eval_batch_size = 4
[aggregate]
wa_start = 2
wa_end = 3
"#,
        manifest.display().to_string()
    );
    Recipe::from_toml(&text, Path::new("resume-test.toml"), &[]).unwrap()
}

fn train(
    recipe: &Recipe,
    out: &Path,
    resume: bool,
    stop_after: Option<usize>,
) -> Result<Summary, TrainError> {
    let mut sink = |_e| {};
    run(
        recipe,
        RunOptions {
            device: Device::flex(),
            data_parallel: Vec::new(),
            out_dir: out.to_path_buf(),
            resume,
            stop_after,
            on_event: &mut sink,
        },
    )
}

/// A checkpoint write that fails (here: the disk is full, `/dev/full` in place of the file being
/// written) stops the run with an error naming that file; the previous epoch's commit is intact,
/// and resuming once the disk has room gives the uninterrupted run's result.
#[test]
fn a_failed_checkpoint_write_keeps_the_last_good_state() {
    let Some(data) =
        tympan_tests::require_data("a_failed_checkpoint_write_keeps_the_last_good_state")
    else {
        return;
    };
    if !Path::new("/dev/full").exists() {
        panic!("/dev/full is needed to simulate a full disk");
    }
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(&manifest(&data, dir.path()));
    let full = train(&r, &dir.path().join("a"), false, None).unwrap();

    let b = dir.path().join("b");
    assert!(matches!(
        train(&r, &b, false, Some(1)),
        Err(TrainError::Stopped { done: 1, .. })
    ));
    let state_after_1 = std::fs::read(b.join("state.json")).unwrap();
    // Epoch 2's commit ends with `state.json`, written through `state.partial`: a full disk there.
    let partial = b.join("state.partial");
    std::os::unix::fs::symlink("/dev/full", &partial).unwrap();
    let err = train(&r, &b, true, None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("state.partial"),
        "the error names the file: {msg}"
    );
    assert_eq!(
        std::fs::read(b.join("state.json")).unwrap(),
        state_after_1,
        "the committed state is untouched"
    );
    std::fs::remove_file(&partial).unwrap();
    let resumed = train(&r, &b, true, None).unwrap();
    assert_eq!(resumed, full);
}
