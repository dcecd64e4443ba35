//! `tympan tag --run` works for every model family a shipped recipe trains: each recipe below is
//! run for one short epoch on real FSDD clips (a CSV manifest of three digits; its model family,
//! input pipeline and output kind unchanged), then `tympan tag --run` on the run's test clips
//! reproduces the run's own `predictions.npy`, row for row.
//!
//! Tolerance: 1e-5 absolute on sigmoid/softmax scores. The run scores its test clips in batches
//! of `train.eval_batch_size`, `tag` one file at a time, so the matrix products see different
//! batch shapes; on flex that changes nothing here (the Hershey test holds 1e-6), the bound leaves
//! room for a backend whose GEMM blocking follows the batch.

use std::path::{Path, PathBuf};
use std::process::Command;

use tympan_audio::npy;

use tympan_tests::{SMALL_FSDD_SPEAKERS as SPEAKERS, SMALL_FSDD_TAKES as TAKES};

fn experiments() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments")
}

/// Train `recipe` (a shipped file) with `extra` overrides on the manifest, then tag its test clips
/// with the run folder and compare with the run's predictions. Returns the temporary folder, the
/// run folder and the tagged clips (`None` where the data is missing outside CI).
fn tag_reproduces_the_run(
    recipe: &str,
    extra: &[&str],
) -> Option<(tempfile::TempDir, PathBuf, Vec<String>)> {
    let data = tympan_tests::require_data(recipe)?;
    let dir = tempfile::tempdir().unwrap();
    let manifest = tympan_tests::small_fsdd_manifest(&data, dir.path());
    let mut sets: Vec<String> = vec![
        r#"data.dataset="csv""#.into(),
        format!("data.data_dir={:?}", manifest.display().to_string()),
        "data.test_fold=0".into(),
        "train.epochs=1".into(),
        "train.draws_per_epoch=16".into(),
        "train.batch_size=8".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    let path = experiments().join(format!("{recipe}.toml"));
    let recipe_ = tympan_train::Recipe::load(&path, &sets)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out = dir.path().join("run");
    tympan_tests::train_on_flex(&recipe_, &out).unwrap_or_else(|e| panic!("{recipe}: {e}"));
    // The test clips in manifest order (the order of predictions.npy).
    let clips: Vec<String> = (0..3)
        .flat_map(|d| {
            SPEAKERS.iter().flat_map(move |s| {
                TAKES
                    .iter()
                    .filter(|&&t| t < 5)
                    .map(move |t| format!("fsdd/recordings/{d}_{s}_{t}.wav"))
            })
        })
        .map(|p| data.join(p).display().to_string())
        .collect();
    let scores = dir.path().join("scores.npy");
    let o = Command::new(env!("CARGO_BIN_EXE_tympan"))
        .args([
            "tag",
            "--run",
            out.to_str().unwrap(),
            "--checkpoint",
            "last",
        ])
        .args(["--format", "json", "-o", scores.to_str().unwrap()])
        .args(&clips)
        .output()
        .expect("run tympan");
    assert!(
        o.status.success(),
        "{recipe}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let tagged = npy::read(&scores).unwrap();
    let preds = npy::read(&out.join("predictions.npy")).unwrap();
    assert_eq!(tagged.shape, preds.shape, "{recipe}");
    assert_eq!(tagged.shape, vec![clips.len(), 3], "{recipe}");
    let d = tympan_tests::max_abs_diff(&tagged.data, &preds.data);
    assert!(d <= 1e-5, "{recipe}: tag --run vs predictions.npy: {d}");
    // The JSON names the run's classes.
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top = json[0]["top"][0]["class"].as_str().unwrap_or_default();
    assert!(["0", "1", "2"].contains(&top), "{recipe}: {json}");
    Some((dir, out, clips))
}

#[test]
fn psla_effnet_lite0_fbank() {
    tag_reproduces_the_run(
        "fsdd-psla",
        &[
            r#"model.pretrained="none""#,
            "optim.warmup_iters=0",
            "aggregate.wa_start=1",
            "aggregate.wa_end=1",
        ],
    );
}

#[test]
fn m_net_raw_waveform() {
    tag_reproduces_the_run("fsdd-m34-res", &[r#"model.arch="m10-res-rb1""#]);
}

#[test]
fn slim_2d_log_mel() {
    tag_reproduces_the_run("fsdd-slim2d", &[]);
}

#[test]
fn chen_resnet_small_raw_waveform() {
    tag_reproduces_the_run("fsdd-noaug", &[]);
}

#[test]
fn densenet_in_model_log_mel_whole_clips() {
    tag_reproduces_the_run("fsdd-densenet-logmel", &["train.validate_every=100"]);
}

/// Also `tympan embed --run`: the run folder gives the architecture, classes and normalisation,
/// so its rows equal (bit for bit) those of `--arch/--weights/--classes/--mean/--std` restated
/// from the run's `config.toml` and `state.json`.
#[test]
fn hershey_fc_patches() {
    let Some((dir, run, clips)) = tag_reproduces_the_run("fsdd-hershey", &[]) else {
        return;
    };
    let embed = |args: &[&str], out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_tympan"))
            .arg("embed")
            .args(args)
            .args(["-o", out.to_str().unwrap()])
            .args(&clips)
            .output()
            .expect("run tympan");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        npy::read(out).unwrap()
    };
    let by_run = embed(
        &["--run", run.to_str().unwrap(), "--checkpoint", "last"],
        &dir.path().join("run.npy"),
    );
    let recipe = tympan_train::Recipe::load(&run.join("config.toml"), &[]).unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    let (mean, std) = (state["norm"][0].to_string(), state["norm"][1].to_string());
    let weights = run.join("model-last.bpk");
    let by_hand = embed(
        &[
            "--arch",
            &recipe.model.arch,
            "--weights",
            weights.to_str().unwrap(),
            "--classes",
            "3",
            "--mean",
            &mean,
            "--std",
            &std,
        ],
        &dir.path().join("hand.npy"),
    );
    assert_eq!(by_run.shape, vec![clips.len(), by_run.shape[1]]);
    assert_eq!(by_run.shape, by_hand.shape);
    assert_eq!(by_run.data, by_hand.data);
    // The raw baseline of Hershey et al. Sec. 4.4: 64 x 20 patches of the normalised log-mel.
    // Features are frame-local, so a 20-frame patch is the first 20 frames of the 96-frame patch
    // over the same samples, and a clip's row is the mean of its patches' rows.
    let norm = ["--mean", mean.as_str(), "--std", std.as_str()];
    let raw20 = embed(
        &[&["--raw", "--per", "patch"], &norm[..]].concat(),
        &dir.path().join("raw20.npy"),
    );
    let raw96 = embed(
        &[
            &["--raw", "--raw-frames", "96", "--per", "patch"],
            &norm[..],
        ]
        .concat(),
        &dir.path().join("raw96.npy"),
    );
    assert_eq!((raw20.shape[1], raw96.shape[1]), (20 * 64, 96 * 64));
    assert!(raw20.shape[0] >= clips.len(), "{:?}", raw20.shape);
    assert_eq!(raw20.data[..20 * 64], raw96.data[..20 * 64]);
    let per_clip = embed(
        &[&["--raw"], &norm[..]].concat(),
        &dir.path().join("raw20-clip.npy"),
    );
    assert_eq!(per_clip.shape, vec![clips.len(), 20 * 64]);
    let rows = std::fs::read_to_string(dir.path().join("raw20.txt")).unwrap();
    let first = clips[0].as_str();
    let of_first: Vec<usize> = rows
        .lines()
        .enumerate()
        .filter(|(_, l)| l.split('\t').next() == Some(first))
        .map(|(i, _)| i)
        .collect();
    assert!(!of_first.is_empty(), "no rows of {first} in {rows}");
    for j in [0, 7, 1279] {
        let mean = of_first
            .iter()
            .map(|&i| raw20.data[i * 1280 + j])
            .sum::<f32>()
            / of_first.len() as f32;
        let got = per_clip.data[j];
        assert!(
            (got - mean).abs() <= 1e-5 * mean.abs().max(1.0),
            "value {j}: {got} vs {mean}"
        );
    }
}

/// A long file is read piece by piece and scored one forward batch of windows at a time: the
/// window scores do not depend on the batch size, and each is the score of its own samples. A
/// real 7 s AudioSet clip (32 kHz, resampled to 16 kHz while streaming), PSLA B0 at random
/// initialisation, 100-frame windows every 50 frames (13 windows), scored with batches of 1, 3
/// and 16 windows: the same bits. Windows 0, 6 and 12 (the last, cut short by the end of the
/// file) are cut by hand from the whole decoded clip, written as 16 kHz float WAVs and scored
/// alone: the same bits again.
#[test]
fn long_files_are_scored_batch_by_batch() {
    use tympan::infer::{InputContract, InputKind, Scorer};
    let contract = InputContract::new(InputKind::Fbank, 100, (-4.27, 4.57), Some(16_000));
    let Some(data) = tympan_tests::require_data("long_files_are_scored_batch_by_batch") else {
        return;
    };
    let clip = data.join("audioset/R9_ZSCveAHg_7s.wav");
    let device = tympan::Device::flex();
    let model = tympan::models::create("psla-effnet-b0", 5, &device).unwrap();
    let scores = |batch: usize| {
        let w = Scorer::new(contract, batch)
            .score_file(&model, &clip, Some(0.5), &device)
            .unwrap();
        (w.scores, w.hop_s)
    };
    let (one, hop) = scores(1);
    assert_eq!(one.len(), 13, "windows");
    assert!((hop - 0.5).abs() < 1e-9);
    assert!(one.iter().all(|row| row.len() == 5));
    assert_eq!(scores(3).0, one);
    assert_eq!(scores(16).0, one);
    let whole = tympan::audio::load::load(&clip, &tympan::audio::LoadOptions::at_rate(16_000))
        .unwrap()
        .samples;
    let dir = tempfile::tempdir().unwrap();
    let win = (1.015f64 * 16_000.0).round() as usize;
    for i in [0usize, 6, 12] {
        let cut = &whole[i * 8000..(i * 8000 + win).min(whole.len())];
        let path = dir.path().join(format!("window{i}.wav"));
        std::fs::write(&path, tympan_tests::float_wav(cut, 16_000)).unwrap();
        let alone = Scorer::new(contract, 1)
            .score_file(&model, &path, None, &device)
            .unwrap()
            .scores;
        assert_eq!(alone, vec![one[i].clone()], "window {i}");
    }
}
