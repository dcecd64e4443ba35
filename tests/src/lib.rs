//! Helpers shared by tympan's cross-crate tests: where the fixtures and the real data live.
//!
//! Real-data tests read `../shared/data` (relative to the workspace root) or `$TYMPAN_DATA`. When
//! the data is absent they fail under `CI=true` and skip (with a message) elsewhere.

use std::path::{Path, PathBuf};

pub mod numerics;

/// The workspace root.
///
/// Found from the `CARGO_MANIFEST_DIR` that `cargo test` sets at run time (the package under
/// test), walking up to the `Cargo.toml` with a `[workspace]` table. The compile-time value is the
/// fallback: it names the checkout that built the binary, which is stale when a build cache is
/// shared between checkouts.
pub fn workspace_root() -> PathBuf {
    let runtime = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR"));
    runtime
        .as_deref()
        .and_then(find_workspace_root)
        .or_else(|| find_workspace_root(compiled))
        .unwrap_or_else(|| {
            compiled
                .parent()
                .expect("tests/ sits inside the workspace")
                .to_path_buf()
        })
}

fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        text.lines()
            .any(|l| l.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

/// `tests/fixtures/`.
pub fn fixtures() -> PathBuf {
    workspace_root().join("tests").join("fixtures")
}

/// Reads and parses a JSON fixture.
pub fn fixture_json(rel: &str) -> serde_json::Value {
    let path = fixtures().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/generate_reference.py)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shared real-data directory: `$TYMPAN_DATA`, else `<workspace>/../shared/data`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("TYMPAN_DATA") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("..").join("shared").join("data"),
    }
}

/// The data directory if present. Absent data panics when `CI=true` (a CI run must not silently
/// skip real-data tests) and returns `None` with a note otherwise.
pub fn require_data(test: &str) -> Option<PathBuf> {
    let dir = data_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{test}: real data not found at {} (set TYMPAN_DATA); CI=true forbids skipping",
        dir.display()
    );
    eprintln!(
        "{test}: SKIPPED, real data not found at {} (set TYMPAN_DATA)",
        dir.display()
    );
    None
}

/// Maximum absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A canonical 44-byte RIFF/WAVE header followed by `data`; `data_len` is what the header claims.
pub fn wav_bytes(format: u16, bits: u16, data_len: u32, data: &[u8]) -> Vec<u8> {
    let (channels, rate) = (1u16, 8000u32);
    let block = channels * bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * block as u32).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Writes every broken case into `dir`, returning (path, expected error kind).
/// The broken inputs every loader entry point must reject, written into `dir`.
///
/// Returns each path with the expected error kind: `empty`, `corrupt`, `unsupported`, `non-finite`.
pub fn broken_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let pcm: Vec<u8> = (0..8000i16)
        .flat_map(|i| (i.wrapping_mul(7)).to_le_bytes())
        .collect();
    let mut nan = Vec::new();
    for i in 0..800 {
        let v = if i == 123 { f32::NAN } else { 0.1 };
        nan.extend_from_slice(&v.to_le_bytes());
    }
    let mut random = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..4096 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        random.push(state as u8);
    }
    let cases: Vec<(&str, Vec<u8>, &'static str)> = vec![
        ("empty.wav", vec![], "empty"),
        ("header_only.wav", wav_bytes(1, 16, 0, &[]), "empty"),
        (
            "truncated.wav",
            wav_bytes(1, 16, pcm.len() as u32, &pcm[..pcm.len() / 3]),
            "corrupt",
        ),
        (
            "notes.wav",
            b"these are my meeting notes, not audio\n".repeat(20),
            "unsupported",
        ),
        ("noise.flac", random, "unsupported"),
        (
            "nan.wav",
            wav_bytes(3, 32, nan.len() as u32, &nan),
            "non-finite",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, bytes, kind)| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            (p, kind)
        })
        .collect()
}

/// A toy AudioSet (ontology Animal -> Dog -> Bark, plus Music; class list; datafile of four clips)
/// with teacher predictions whose enhancement is computed by hand in the tests. Returns the paths
/// (ontology, classes, datafile) and the predictions, [4 clips, 4 classes].
pub fn write_toy_audioset(dir: &Path) -> (PathBuf, PathBuf, PathBuf, Vec<f32>) {
    let onto = r#"[
      {"id": "/a", "name": "Animal", "child_ids": ["/d"], "restrictions": ["abstract"]},
      {"id": "/d", "name": "Dog", "child_ids": ["/b"], "restrictions": []},
      {"id": "/b", "name": "Bark", "child_ids": [], "restrictions": []},
      {"id": "/m", "name": "Music", "child_ids": [], "restrictions": []}
    ]"#;
    let (o, c, d) = (dir.join("o.json"), dir.join("c.csv"), dir.join("d.json"));
    std::fs::write(&o, onto).unwrap();
    std::fs::write(
        &c,
        "index,mid,display_name\n0,/a,Animal\n1,/d,Dog\n2,/b,Bark\n3,/m,Music\n",
    )
    .unwrap();
    let data = r#"{"data": [{"wav": "0.wav", "labels": "/d"}, {"wav": "1.wav", "labels": "/d"},
                  {"wav": "2.wav", "labels": "/b"}, {"wav": "3.wav", "labels": "/m"}]}"#;
    std::fs::write(&d, data).unwrap();
    #[rustfmt::skip]
    let preds = vec![
        0.9, 0.8, 0.70, 0.1, // clip 0: Dog; Bark scores 0.70
        0.2, 0.6, 0.10, 0.1, // clip 1: Dog
        0.5, 0.9, 0.65, 0.0, // clip 2: Bark; Dog scores 0.9
        0.1, 0.1, 0.10, 0.7, // clip 3: Music
    ];
    (o, c, d, preds)
}

/// Writes `manifest.csv` (`path,label,fold`) into `dir` for the real FSDD recordings
/// `<data>/fsdd/recordings/{digit}_{speaker}_{take}.wav`, digit-major then speaker then take;
/// fold 1 (train) where `train(take)`, fold 0 (test) otherwise. Returns its path.
pub fn fsdd_manifest(
    data: &Path,
    dir: &Path,
    digits: std::ops::Range<u32>,
    speakers: &[&str],
    takes: &[u32],
    train: impl Fn(u32) -> bool,
) -> PathBuf {
    let mut csv = String::from("path,label,fold\n");
    for d in digits {
        for s in speakers {
            for &take in takes {
                let p = data.join(format!("fsdd/recordings/{d}_{s}_{take}.wav"));
                csv.push_str(&format!("{},{d},{}\n", p.display(), u32::from(train(take))));
            }
        }
    }
    let path = dir.join("manifest.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// The real UrbanSound8K clips of fold 1 in `../shared/data` (`data`), sorted by name.
pub fn us8k_fold1_clips(data: &Path) -> Vec<PathBuf> {
    let mut clips: Vec<PathBuf> =
        std::fs::read_dir(data.join("urbansound8k/UrbanSound8K/audio/fold1"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
    clips.sort();
    clips
}

/// Runs the program `bin` with `args`, which must succeed; its stdout and stderr together (the
/// panic message names the program and its arguments and holds the whole output).
pub fn run_ok(bin: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{bin} {args:?} failed:\n{text}");
    text
}

/// `--set` overrides that shrink a shipped PSLA AudioSet recipe (`psla-full`, `psla-balanced`,
/// `psla-fsd50k`) to a test's budget and nothing else: two steps of four clips, one epoch,
/// weight averaging over it, random initial weights (the ImageNet B2 weights are not fetched
/// offline).
pub const PSLA_TEST_BUDGET: [&str; 14] = [
    "--set",
    "train.batch_size=4",
    "--set",
    "train.draws_per_epoch=8",
    "--set",
    "train.epochs=1",
    "--set",
    "train.eval_batch_size=4",
    "--set",
    "aggregate.wa_start=1",
    "--set",
    "aggregate.wa_end=1",
    "--set",
    "model.pretrained=\"none\"",
];

/// The speakers of [`small_fsdd_manifest`].
pub const SMALL_FSDD_SPEAKERS: [&str; 3] = ["george", "jackson", "lucas"];
/// The takes of [`small_fsdd_manifest`]: 0-1 test (fold 0), 5-9 train.
pub const SMALL_FSDD_TAKES: [u32; 7] = [0, 1, 5, 6, 7, 8, 9];

/// The small real-FSDD manifest the CLI tests train on: digits 0-2 of
/// [`SMALL_FSDD_SPEAKERS`], takes [`SMALL_FSDD_TAKES`] (0-1 test, 5-9 train): 63 clips.
pub fn small_fsdd_manifest(data: &Path, dir: &Path) -> PathBuf {
    fsdd_manifest(
        data,
        dir,
        0..3,
        &SMALL_FSDD_SPEAKERS,
        &SMALL_FSDD_TAKES,
        |t| t >= 5,
    )
}

/// The rows of a run's `metrics.csv` without their `seconds` column: what two runs of the same
/// recipe must share.
pub fn metrics_rows_without_seconds(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let secs = header.iter().position(|h| *h == "seconds");
    lines
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| Some(*i) != secs)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// A mono 32-bit float WAV of `samples` at `rate` Hz.
pub fn float_wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * 4).to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&32u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    v
}

/// A recipe training Hershey et al.'s fully connected baseline on one VGGish patch per clip of
/// the CSV `manifest` (fold 0 tests): Adam 1e-3 at a constant rate, BCE, uniform sampling.
/// `[train]` is the last table, so callers may append train keys.
pub fn hershey_fc_recipe(
    name: &str,
    manifest: &Path,
    batch_size: usize,
    epochs: usize,
    seed: u64,
) -> String {
    format!(
        r#"
name = "{name}"
[data]
dataset = "csv"
data_dir = {:?}
test_fold = 0
sample_rate = 16000
[features]
input = "vggish"
target_length = 96
[model]
arch = "hershey-fc"
[optim]
lr = 1e-3
betas = [0.9, 0.999]
weight_decay = 0.0
warmup_iters = 0
schedule = {{ kind = "constant" }}
[train]
batch_size = {batch_size}
epochs = {epochs}
sampler = "uniform"
loss = "bce"
seed = {seed}
"#,
        manifest.display().to_string()
    )
}

/// `recipe` trained and evaluated into `out` on flex, one device, from the start, no events:
/// the library run the CLI tests compare against.
pub fn train_on_flex(
    recipe: &tympan_train::Recipe,
    out: &Path,
) -> Result<tympan_train::Summary, tympan_train::TrainError> {
    let mut sink = |_e| {};
    tympan_train::run(
        recipe,
        tympan_train::RunOptions {
            device: tympan_models::Backend::Flex
                .device()
                .expect("flex is compiled into the tests"),
            data_parallel: Vec::new(),
            out_dir: out.to_path_buf(),
            resume: false,
            stop_after: None,
            on_event: &mut sink,
        },
    )
}

/// The training loss of every epoch, from a run's `metrics.csv` text (second column).
pub fn epoch_losses(metrics_csv: &str) -> Vec<f64> {
    metrics_csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}
