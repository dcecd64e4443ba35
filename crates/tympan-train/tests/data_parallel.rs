//! Data-parallel training (`--devices 0,1`) against one device, on real FSDD clips. In its own
//! test binary: Burn's device RNG (initialisation, dropout) is process-wide, so a training test
//! running beside it in the same process would make the two runs start from different weights.

use std::path::Path;

use burn::prelude::Device;
use tympan_train::{Recipe, RunOptions, run};

/// `--devices 0,1`: each batch split into two shards whose weighted gradients are summed. Here
/// both "devices" are the one CPU (no second device exists on CI), which still runs the whole
/// data-parallel path: shard, fork the model, backward per shard, move and sum the gradients.
/// Hershey's FC model has no BatchNorm, so the update must equal one-device training up to
/// float rounding.
#[test]
fn data_parallel_training_matches_one_device() {
    let Some(data) = tympan_tests::require_data("data_parallel_training_matches_one_device") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = tympan_tests::fsdd_manifest(
        &data,
        dir.path(),
        0..10,
        &["jackson"],
        &[0, 5, 6, 7, 8, 9],
        |t| t >= 5,
    );
    let text = tympan_tests::hershey_fc_recipe("data-parallel", &manifest, 10, 2, 5);
    let recipe = Recipe::from_toml(&text, Path::new("dp.toml"), &[]).unwrap();
    let train = |out: &Path, data_parallel: Vec<Device>| {
        let mut sink = |_e| {};
        run(
            &recipe,
            RunOptions {
                device: Device::flex(),
                data_parallel,
                out_dir: out.to_path_buf(),
                resume: false,
                stop_after: None,
                on_event: &mut sink,
            },
        )
        .unwrap();
        let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
        let losses = tympan_tests::epoch_losses(&metrics);
        let preds = std::fs::read(out.join("predictions.npy")).unwrap();
        let preds: Vec<f32> = preds[preds.len() - 10 * 10 * 4..]
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (losses, preds)
    };
    let (one_loss, one_preds) = train(&dir.path().join("one"), vec![]);
    let (two_loss, two_preds) = train(&dir.path().join("two"), vec![Device::flex()]);
    assert_eq!(one_loss.len(), 2);
    for (a, b) in one_loss.iter().zip(&two_loss) {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs(),
            "losses {one_loss:?} vs {two_loss:?}"
        );
    }
    let worst = one_preds
        .iter()
        .zip(&two_preds)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "predictions differ by {worst}");
}
