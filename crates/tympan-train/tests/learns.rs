//! A short real training run, as CI's proof that the whole pipeline learns: 300 FSDD recordings
//! (all six speakers, takes 5-9), Hershey et al.'s fully connected baseline on one 96x64 VGGish
//! patch, five epochs; 120 held-out recordings (takes 0-1). The loss must fall and the held-out
//! accuracy must clear chance (0.1) by a wide margin. Runs in seconds.

use std::path::Path;

use burn::prelude::Device;
use tympan_train::{Recipe, RunOptions, run};

const SPEAKERS: [&str; 6] = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"];

#[test]
fn a_short_fsdd_run_learns() {
    let Some(data) = tympan_tests::require_data("a_short_fsdd_run_learns") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let takes: Vec<u32> = (0..2).chain(5..10).collect();
    let manifest =
        tympan_tests::fsdd_manifest(&data, dir.path(), 0..10, &SPEAKERS, &takes, |t| t >= 5);
    let text =
        tympan_tests::hershey_fc_recipe("learns", &manifest, 16, 5, 3) + "validate_every = 40\n";
    let recipe = Recipe::from_toml(&text, Path::new("learns.toml"), &[]).unwrap();
    let out = dir.path().join("run");
    let mut sink = |_e| {};
    let summary = run(
        &recipe,
        RunOptions {
            device: Device::flex(),
            data_parallel: Vec::new(),
            out_dir: out.clone(),
            resume: false,
            stop_after: None,
            on_event: &mut sink,
        },
    )
    .unwrap();
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let losses = tympan_tests::epoch_losses(&metrics);
    assert_eq!(losses.len(), 5, "{metrics}");
    assert!(losses[4] < 0.7 * losses[0], "loss did not fall: {losses:?}");
    let acc = summary.last_epoch.accuracy;
    assert!(acc > 0.4, "held-out accuracy {acc} (chance 0.1)\n{metrics}");
    assert!(out.join("curves.svg").is_file() && out.join("per_class_ap.svg").is_file());
    // A stratified tenth of the 300 training recordings validates, the 120 test recordings are
    // only scored: 270 / 16 = 17 batches an epoch, 85 steps, mid-epoch validations at steps 40
    // and 80 (Jeong & Lim's "validate every N iterations"), each a row of validation.csv; the
    // model chosen on validation is kept and scored on the test split.
    assert_eq!(summary.sizes, [270, 30, 120], "{}", summary.split);
    let (best_epoch, _) = summary.best_epoch.expect("a best epoch");
    assert!((1..=5).contains(&best_epoch));
    let selected = summary.selected.expect("the chosen model's test scores");
    assert!(
        selected.accuracy > 0.4,
        "chosen model's test accuracy {}",
        selected.accuracy
    );
    let validation = std::fs::read_to_string(out.join("validation.csv")).unwrap();
    let steps: Vec<&str> = validation
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["40", "80"], "{validation}");
    assert!(out.join("model-best.bpk").is_file());
    eprintln!("losses {losses:?}, held-out accuracy {acc}");
}

/// The recipes' validation splits on the real data: FSDD's official test takes stay the test
/// split and a stratified tenth of the training takes validates (27 per digit); the UrbanSound8K
/// subset validates on whole recordings (no `fsID` on both sides). Both are seeded by
/// `data.split_seed` and disjoint from training and test. (Data only: no training in this test.)
#[test]
fn validation_splits_are_stratified_seeded_and_disjoint() {
    use std::collections::HashSet;
    let Some(data) = tympan_tests::require_data("validation_splits") else {
        return;
    };
    let root = tympan_tests::workspace_root();
    let load = |recipe: &str, dir: &Path, extra: &[&str]| {
        let mut set = vec![
            format!("data.data_dir={:?}", dir.display().to_string()),
            "data.cache_audio=false".to_string(),
        ];
        set.extend(extra.iter().map(|s| s.to_string()));
        let path = root.join("experiments").join(format!("{recipe}.toml"));
        let r = Recipe::load(&path, &set).unwrap();
        tympan_train::data::prepare(&r).unwrap()
    };
    let names = |v: &[tympan_train::data::Item]| -> HashSet<std::path::PathBuf> {
        v.iter().map(|i| i.path.clone()).collect()
    };
    let fsdd = data.join("fsdd");
    let d = load("fsdd-psla", &fsdd, &[]);
    assert_eq!(
        (d.train.len(), d.valid.len(), d.test.len()),
        (2430, 270, 300)
    );
    for digit in 0..10 {
        assert_eq!(d.valid.iter().filter(|i| i.class() == digit).count(), 27);
    }
    let (tr, va, te) = (names(&d.train), names(&d.valid), names(&d.test));
    assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
    // Test takes are 0-4, as FSDD's official split.
    for p in &te {
        let take: u32 = p
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .rsplit('_')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(take < 5, "{}", p.display());
    }
    assert_eq!(
        names(&load("fsdd-psla", &fsdd, &[]).valid),
        va,
        "not seeded"
    );
    let other = names(&load("fsdd-psla", &fsdd, &["data.split_seed=1"]).valid);
    assert_ne!(other, va, "data.split_seed has no effect");

    let us8k = data.join("urbansound8k/UrbanSound8K");
    let u = load("us8k-psla", &us8k, &[]);
    let fs_id = |v: &[tympan_train::data::Item]| -> HashSet<String> {
        v.iter()
            .map(|i| {
                let stem = i.path.file_stem().unwrap().to_str().unwrap();
                stem.split('-').next().unwrap().to_string()
            })
            .collect()
    };
    assert!(!u.valid.is_empty() && !u.test.is_empty());
    assert!(
        fs_id(&u.train).is_disjoint(&fs_id(&u.valid)),
        "a recording on both sides"
    );
    let share = u.valid.len() as f64 / (u.train.len() + u.valid.len()) as f64;
    assert!((0.05..0.14).contains(&share), "validation share {share}");
    let f = load("us8k-psla", &us8k, &["data.valid={fold=3}"]);
    assert!(
        f.valid
            .iter()
            .all(|i| i.path.parent().unwrap().ends_with("fold3"))
    );
    assert!(
        f.train
            .iter()
            .all(|i| i.path.parent().unwrap().ends_with("fold1"))
    );

    // Your own clips, a folder per class, with no split of their own: a stratified fifth
    // tests, a tenth of the rest validates (docs/training.md, "Your own clips").
    let own = tempfile::tempdir().unwrap();
    for digit in 0..3 {
        let dir = own.path().join(format!("digit{digit}"));
        std::fs::create_dir(&dir).unwrap();
        for take in 0..50 {
            let name = format!("{digit}_jackson_{take}.wav");
            std::os::unix::fs::symlink(fsdd.join("recordings").join(&name), dir.join(name))
                .unwrap();
        }
    }
    let o = load("fsdd-psla", own.path(), &["data.dataset=\"folder\""]);
    assert_eq!(o.classes, ["digit0", "digit1", "digit2"]);
    assert_eq!((o.train.len(), o.valid.len(), o.test.len()), (108, 12, 30));
    for c in 0..3 {
        assert_eq!(o.test.iter().filter(|i| i.class() == c).count(), 10);
    }
    assert!(names(&o.test).is_disjoint(&names(&o.train)));
}

/// `features.fit_length`: the input length is fitted to the training clips when the run starts
/// (the smallest length, rounded up to 8, that holds the share whole, capped by
/// `target_length`), the log says so, and the run's `config.toml` and model card hold the length
/// used, so that tagging and resuming read it. Real FSDD clips, a one-epoch raw-waveform M3.
#[test]
fn fit_length_follows_the_clips() {
    let Some(data) = tympan_tests::require_data("fit_length_follows_the_clips") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = tympan_tests::fsdd_manifest(
        &data,
        dir.path(),
        0..3,
        &["jackson"],
        &[0, 10, 11, 12],
        |t| t != 0,
    );
    let train_clips: Vec<std::path::PathBuf> = (0..3)
        .flat_map(|d| {
            [10, 11, 12].map(|t| data.join(format!("fsdd/recordings/{d}_jackson_{t}.wav")))
        })
        .collect();
    let run_with = |share: f64, cap: usize, out: &Path| {
        let text = format!(
            r#"
name = "fit-length"
[data]
dataset = "csv"
data_dir = {:?}
test_fold = 0
valid = "none"
[features]
input = "waveform"
target_length = {cap}
fit_length = {share}
[model]
arch = "m3"
[optim]
lr = 1e-3
warmup_iters = 0
schedule = {{ kind = "constant" }}
[train]
batch_size = 3
epochs = 1
sampler = "uniform"
"#,
            manifest.display().to_string()
        );
        let recipe = Recipe::from_toml(&text, Path::new("fit-length.toml"), &[]).unwrap();
        let mut infos = Vec::new();
        let mut sink = |e| {
            if let tympan_train::Event::Info(s) = e {
                infos.push(s)
            }
        };
        run(
            &recipe,
            RunOptions {
                device: Device::flex(),
                data_parallel: Vec::new(),
                out_dir: out.to_path_buf(),
                resume: false,
                stop_after: None,
                on_event: &mut sink,
            },
        )
        .unwrap();
        let config = Recipe::load(&out.join("config.toml"), &[]).unwrap();
        assert_eq!(
            config.features.fit_length, None,
            "config.toml keeps a share"
        );
        let card: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("card.json")).unwrap()).unwrap();
        let card_len = card["input"]["length"].as_u64().unwrap() as usize;
        assert_eq!(card_len, config.features.target_length);
        let rate = card["input"]["sample_rate"].as_u64().unwrap() as u32;
        (config.features.target_length, rate, infos)
    };
    let (len, rate, infos) = run_with(1.0, 1_000_000, &dir.path().join("all"));
    // Every training clip's samples at the model's rate, computed here from the files.
    let opts = tympan_audio::LoadOptions {
        sample_rate: Some(rate),
        ..Default::default()
    };
    let mut lengths: Vec<usize> = train_clips
        .iter()
        .map(|p| tympan_audio::load::load(p, &opts).unwrap().samples.len())
        .collect();
    lengths.sort_unstable();
    assert_eq!(
        len,
        lengths[8].div_ceil(8) * 8,
        "share 1: the longest clip whole"
    );
    assert!(
        infos
            .iter()
            .any(|s| s.contains(&format!("target_length = {len} samples"))),
        "{infos:?}"
    );
    // Half of the nine clips: the fifth longest, rounded up.
    let (half, _, _) = run_with(0.5, 1_000_000, &dir.path().join("half"));
    assert_eq!(half, lengths[4].div_ceil(8) * 8);
    // The recipe's length caps it.
    let (capped, _, _) = run_with(1.0, lengths[0] - 1, &dir.path().join("capped"));
    assert_eq!(capped, lengths[0] - 1);
}
