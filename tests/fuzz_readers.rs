//! Mutation fuzzing of every reader of user input, in CI: each real file from `../shared/data`
//! (and each shipped recipe, and model files written here) is mutated many times (bit flips,
//! interesting bytes, deletions, duplications, insertions, truncations, splices) by a seeded
//! generator, and every reader must answer each input with a value or an error naming the file,
//! never a panic. The coverage-guided runs of the same readers (cargo-fuzz) are `scripts/fuzz.sh`;
//! both are recorded in docs/results.md.
//!
//! `TYMPAN_FUZZ_SCALE=N` multiplies the number of inputs (the default is the CI smoke run).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// xorshift64*: a seeded generator, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four mutations of `seed`.
fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let n = b.len();
        match rng.below(7) {
            0 if n > 0 => {
                let i = rng.below(n);
                b[i] ^= 1 << rng.below(8);
            }
            1 if n > 0 => {
                let i = rng.below(n);
                b[i] = [0x00, 0xff, 0x7f, 0x80, b'"', b',', b'\n', b'{'][rng.below(8)];
            }
            2 if n > 1 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(64));
                b.drain(i..i + len);
            }
            3 if n > 1 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(64));
                let chunk = b[i..i + len].to_vec();
                let at = rng.below(n);
                b.splice(at..at, chunk);
            }
            4 => {
                let at = rng.below(n + 1);
                let bytes: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                b.splice(at..at, bytes);
            }
            5 if n > 0 => b.truncate(rng.below(n)),
            _ if !other.is_empty() => {
                // Splice a piece of another seed in.
                let i = rng.below(other.len());
                let len = 1 + rng.below((other.len() - i).min(256));
                let at = rng.below(n + 1);
                b.splice(at..at, other[i..i + len].iter().copied());
            }
            _ => {}
        }
    }
    b
}

fn scale() -> usize {
    std::env::var("TYMPAN_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// Runs `reader` on `runs` mutations of `seeds` written to `dir/name`; returns how many inputs
/// it read and how many it rejected. Panics (with the failing input saved) on a panic or on an
/// error that does not name the file.
fn fuzz(
    what: &str,
    seeds: &[Vec<u8>],
    name: &str,
    runs: usize,
    reader: impl Fn(&Path) -> Result<(), String>,
) -> (usize, usize) {
    assert!(!seeds.is_empty(), "{what}: no seeds");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ what.len() as u64);
    let mut rejected = 0;
    for i in 0..runs {
        let seed = &seeds[i % seeds.len()];
        let other = &seeds[(i / seeds.len()) % seeds.len()];
        let input = if i < seeds.len() {
            seed.clone()
        } else {
            mutate(seed, other, &mut rng)
        };
        std::fs::write(&path, &input).unwrap();
        match catch_unwind(AssertUnwindSafe(|| reader(&path))) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                rejected += 1;
                if !message.contains(name) {
                    let keep = save_crash(what, i, &input);
                    panic!(
                        "{what}: input {i} ({}): the error does not name the file: {message}",
                        keep.display()
                    );
                }
            }
            Err(_) => {
                let keep = save_crash(what, i, &input);
                panic!("{what}: input {i} panicked; saved to {}", keep.display());
            }
        }
    }
    eprintln!("{what}: {runs} inputs, {rejected} rejected with an error, 0 panics");
    (runs, rejected)
}

fn save_crash(what: &str, i: usize, input: &[u8]) -> PathBuf {
    let dir = tympan_tests::workspace_root().join("target/fuzz-crashes");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{what}-{i}"));
    std::fs::write(&p, input).unwrap();
    p
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn data() -> Option<PathBuf> {
    // Reports the fuzz test by name when the data is missing (fails under CI=true).
    tympan_tests::require_data("fuzz_readers")
}

#[test]
fn audio_readers_never_panic() {
    let Some(data) = data() else { return };
    let rec = data.join("fsdd/recordings");
    let seeds: Vec<Vec<u8>> = ["0_jackson_0.wav", "5_theo_12.wav", "9_nicolas_3.wav"]
        .iter()
        .map(|n| read(&rec.join(n)))
        .collect();
    let opts = tympan_audio::LoadOptions::at_rate(16_000);
    // The 16-bit PCM fast path (and symphonia when it declines) ...
    fuzz("wav", &seeds, "clip.wav", 600 * scale(), |p| {
        tympan_audio::load::load(p, &opts)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    // ... and symphonia's probe and decoders under other extensions.
    for ext in ["flac", "mp3", "ogg"] {
        fuzz(ext, &seeds, &format!("clip.{ext}"), 150 * scale(), |p| {
            tympan_audio::load::load(p, &opts)
                .map(drop)
                .map_err(|e| e.to_string())
        });
    }
}

#[test]
fn metadata_readers_never_panic() {
    let Some(data) = data() else { return };
    let a = data.join("audioset");
    let head = |p: &Path, n: usize| {
        let b = read(p);
        b[..b.len().min(n)].to_vec()
    };
    let segments = vec![
        head(&a.join("balanced_train_segments.csv"), 6000),
        head(&a.join("eval_segments.csv"), 6000),
    ];
    fuzz("segments", &segments, "segments.csv", 2000 * scale(), |p| {
        tympan_data::read_segments(p)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let classes = vec![read(&a.join("class_labels_indices.csv"))];
    fuzz("class-list", &classes, "classes.csv", 1000 * scale(), |p| {
        tympan_data::ClassList::load(p)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let manifest =
        b"path,label,fold\nrecordings/0_jackson_0.wav,zero,1\nrecordings/1_theo_2.wav,one;two,2\n"
            .to_vec();
    fuzz(
        "csv-manifest",
        &[manifest],
        "manifest.csv",
        1000 * scale(),
        |p| {
            tympan_data::datasets::csv_manifest(p)
                .map(drop)
                .map_err(|e| e.to_string())
        },
    );
    let ontology = vec![read(&a.join("ontology.json"))];
    fuzz("ontology", &ontology, "ontology.json", 200 * scale(), |p| {
        tympan_data::Ontology::load(p)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let datafile = br#"{"data": [{"wav": "/d/audio/--PJHxphWEs.flac", "labels": "/m/09x0r,/t/dd00088"}, {"wav": "/d/audio/--ZhevVpy1s.flac", "labels": "/m/012xff"}]}"#.to_vec();
    fuzz(
        "datafile",
        &[datafile],
        "datafile.json",
        2000 * scale(),
        |p| {
            tympan_data::Datafile::load(p)
                .map(drop)
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn npy_reader_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let seeds: Vec<Vec<u8>> = [(vec![2usize, 3], 6usize), (vec![4], 4), (vec![1, 1, 5], 5)]
        .into_iter()
        .map(|(shape, n)| {
            let p = dir.path().join("seed.npy");
            let values: Vec<f32> = (0..n).map(|v| v as f32 * 0.5).collect();
            tympan_audio::npy::write(&p, &values, &shape).unwrap();
            read(&p)
        })
        .collect();
    fuzz("npy", &seeds, "scores.npy", 3000 * scale(), |p| {
        tympan_audio::npy::read(p)
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

#[test]
fn recipe_reader_never_panics() {
    let dir = tympan_tests::workspace_root().join("experiments");
    let mut seeds = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            seeds.push(read(&p));
        }
    }
    fuzz("recipe", &seeds, "recipe.toml", 3000 * scale(), |p| {
        tympan_train::recipe::Experiment::load(p, &["train.epochs=2".into()])
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

#[test]
fn model_file_loaders_never_panic() {
    use burn::prelude::Device;
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let bpk = dir.path().join("seed.bpk");
    let model = tympan_models::create("m3", 10, &device).unwrap();
    tympan_models::save_burnpack(&model, &bpk).unwrap();
    fuzz("bpk", &[read(&bpk)], "model.bpk", 300 * scale(), |p| {
        let template = tympan_models::create("m3", 10, &device).map_err(|e| e.to_string())?;
        tympan_models::load_burnpack(template, p)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let pth =
        tympan_tests::workspace_root().join("tests/fixtures/models/psla_effnet_b2_h4_527.pth");
    fuzz("pth", &[read(&pth)], "model.pth", 40 * scale(), |p| {
        let mut m =
            tympan_models::create("psla-effnet-b2", 527, &device).map_err(|e| e.to_string())?;
        tympan_models::load_pytorch(&mut m, p, &tympan_models::TorchLoadOptions::default())
            .map(drop)
            .map_err(|e| e.to_string())
    });
}
