//! The small real-data run shared by the resume tests (each test binary is its own process: Burn's
//! device RNG is process-wide).

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use tympan_train::{Recipe, RunOptions, Summary, TrainError, run};

/// 3 digits x (3 train + 1 test) real FSDD recordings as a CSV manifest; fold 0 = test.
pub fn manifest(data: &Path, dir: &Path) -> PathBuf {
    tympan_tests::fsdd_manifest(data, dir, 0..3, &["jackson"], &[0, 10, 11, 12], |t| t != 0)
}

pub fn recipe(manifest: &Path) -> Recipe {
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

pub fn train(
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

/// A summary as `summary.json` writes it: equal texts are equal summaries, NaN scores included
/// (a one-clip validation split has no AUC), which `PartialEq` on `f64` would call different.
#[allow(dead_code)]
pub fn json(s: &Summary) -> String {
    serde_json::to_string(s).expect("a summary serialises")
}

/// The start the failure tests share: the uninterrupted run in `dir/a`, and a second run in
/// `dir/b` stopped after its first epoch, with that epoch's committed `state.json`.
#[allow(dead_code)]
pub struct FirstEpoch {
    pub recipe: Recipe,
    pub full: Summary,
    pub b: PathBuf,
    pub state_after_1: Vec<u8>,
}

#[allow(dead_code)]
pub fn uninterrupted_and_first_epoch(data: &Path, dir: &Path) -> FirstEpoch {
    let recipe = recipe(&manifest(data, dir));
    let full = train(&recipe, &dir.join("a"), false, None).unwrap();
    let b = dir.join("b");
    let stopped = train(&recipe, &b, false, Some(1));
    assert!(
        matches!(stopped, Err(TrainError::Stopped { done: 1, .. })),
        "{stopped:?}"
    );
    let state_after_1 = std::fs::read(b.join("state.json")).unwrap();
    FirstEpoch {
        recipe,
        full,
        b,
        state_after_1,
    }
}
