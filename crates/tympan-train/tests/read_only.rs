//! A checkpoint folder that turns read-only mid-run stops the run with an error naming the file
//! it could not write; the last commit is intact and resumes to the uninterrupted run's result.
//! Its own test binary: Burn's device RNG is process-wide.

mod common;

use std::path::Path;
use std::process::Command;

use common::{FirstEpoch, json, train, uninterrupted_and_first_epoch};

/// Makes `dir` read-only, or writable again. As root, permission bits do not stop writes, so
/// the folder is made immutable (`chattr +i`, ext4/xfs/btrfs) instead.
fn read_only(dir: &Path, on: bool) {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        let st = Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .arg(dir)
            .status()
            .expect("chattr (e2fsprogs) is needed to make a folder read-only as root");
        assert!(st.success(), "chattr on {}", dir.display());
    } else {
        use std::os::unix::fs::PermissionsExt;
        let mode = if on { 0o555 } else { 0o755 };
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn a_read_only_checkpoint_folder_keeps_the_last_good_state() {
    let Some(data) =
        tympan_tests::require_data("a_read_only_checkpoint_folder_keeps_the_last_good_state")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let FirstEpoch {
        recipe: r,
        full,
        b,
        state_after_1,
    } = uninterrupted_and_first_epoch(&data, dir.path());
    let checkpoints = b.join("checkpoints");
    read_only(&checkpoints, true);
    let result = train(&r, &b, true, None);
    read_only(&checkpoints, false);
    let err = result.expect_err("a read-only checkpoint folder must stop the run");
    let msg = err.to_string();
    assert!(
        msg.contains(&checkpoints.display().to_string()),
        "the error names the file it could not write: {msg}"
    );
    assert_eq!(
        std::fs::read(b.join("state.json")).unwrap(),
        state_after_1,
        "the committed state is untouched"
    );
    let resumed = train(&r, &b, true, None).unwrap();
    assert_eq!(json(&resumed), json(&full));
}
