//! A checkpoint write that fails leaves the last good state. Its own test binary: Burn's device
//! RNG is process-wide, so two training tests in one process would draw from each other's
//! stream.
//!
//! The model is Dai et al.'s M3 on raw waveforms, which trains in seconds; the SIGKILL test
//! (`xtask/tests/kill_resume.rs`) covers PSLA's EfficientNet-Lite0 as well.

mod common;

use std::path::Path;

use common::{FirstEpoch, json, train, uninterrupted_and_first_epoch};

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
    let FirstEpoch {
        recipe: r,
        full,
        b,
        state_after_1,
    } = uninterrupted_and_first_epoch(&data, dir.path());
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
    assert_eq!(json(&resumed), json(&full));
}
