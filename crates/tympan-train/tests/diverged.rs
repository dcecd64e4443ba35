//! A non-finite loss stops the run with an error naming the epoch and the batch, after the last
//! good checkpoint was kept; the run resumes from it. Its own test binary: Burn's device RNG is
//! process-wide.

mod common;

use common::{FirstEpoch, json, train, uninterrupted_and_first_epoch};
use tympan_train::TrainError;

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let Some(data) = tympan_tests::require_data("a_non_finite_loss_stops_the_run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let FirstEpoch {
        recipe: r,
        full,
        b,
        state_after_1,
    } = uninterrupted_and_first_epoch(&data, dir.path());
    // From epoch 2 on, a rate that overflows the weights, so that the loss turns NaN/inf within a
    // few steps. A resume takes its schedule from the committed state, so that is where it goes.
    let mut state: serde_json::Value = serde_json::from_slice(&state_after_1).unwrap();
    state["lr"]["base_lr"] = serde_json::json!(1e38);
    let blown = serde_json::to_vec(&state).unwrap();
    std::fs::write(b.join("state.json"), &blown).unwrap();
    let err = train(&r, &b, true, None).unwrap_err();
    let msg = err.to_string();
    match err {
        TrainError::Diverged {
            loss, epoch, batch, ..
        } => {
            assert!(!loss.is_finite(), "{msg}");
            assert_eq!(epoch, 2, "{msg}");
            assert!(msg.contains(&format!("epoch 2, batch {batch}")), "{msg}");
            assert!(msg.contains("epoch 1"), "names the kept checkpoint: {msg}");
        }
        other => panic!("expected Diverged, got {other}"),
    }
    assert_eq!(
        std::fs::read(b.join("state.json")).unwrap(),
        blown,
        "the last commit is kept as it was"
    );
    std::fs::write(b.join("state.json"), &state_after_1).unwrap();
    let resumed = train(&r, &b, true, None).unwrap();
    assert_eq!(json(&resumed), json(&full));
}
