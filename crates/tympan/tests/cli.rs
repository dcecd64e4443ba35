//! End-to-end tests of the `tympan` binary.

use std::path::Path;
use std::process::{Command, Output};

use tympan_audio::npy;
use tympan_tests::{broken_files, fixture_json, fixtures, write_toy_audioset};

fn tympan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tympan"))
        .args(args)
        .output()
        .expect("run tympan")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn features_one_file_kaldi_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clip.npy");
    let clip = fixtures().join("audio/clip.flac");
    let o = tympan(&["features", s(&clip), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = npy::read(&out).unwrap();
    // 2384 samples at 8 kHz, 200-sample window, 80-sample shift -> 28 frames of 23 bins.
    assert_eq!(a.shape, vec![28, 23]);
    // Same numbers as the library.
    let (ch, rate) = tympan_audio::load::decode_all_channels(&clip).unwrap();
    let want = tympan_audio::fbank::fbank(
        &ch[0],
        &tympan_audio::FbankOptions {
            sample_frequency: rate as f64,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(a.data, want.data);
}

#[test]
fn features_options_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("feats");
    let a = fixtures().join("audio/pcm_24.wav");
    let b = fixtures().join("audio/clip.ogg");
    let o = tympan(&[
        "features",
        "--num-mel-bins",
        "40",
        "--window-type",
        "hanning",
        "--snip-edges",
        "false",
        "--high-freq",
        "-200",
        s(&a),
        s(&b),
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fa = npy::read(&out.join("pcm_24.npy")).unwrap();
    assert_eq!(fa.shape, vec![30, 40]); // snip_edges=false: round(2384 / 80) frames
    assert!(out.join("clip.npy").exists());

    // A preset over a directory input (searched recursively, non-audio files ignored).
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::copy(fixtures().join("audio/pcm_u8.wav"), input.join("a.wav")).unwrap();
    std::fs::copy(fixtures().join("audio/clip.mp3"), input.join("sub/b.mp3")).unwrap();
    std::fs::write(input.join("README.txt"), "not audio").unwrap();
    let out2 = dir.path().join("psla");
    let o = tympan(&[
        "features",
        "--preset",
        "psla",
        s(&input),
        "-o",
        s(&out2),
        "-j",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_dir(&out2).unwrap().count(),
        2,
        "one .npy per audio file"
    );
    assert_eq!(
        npy::read(&out2.join("a.npy")).unwrap().shape,
        vec![1056, 128]
    );
    assert_eq!(
        npy::read(&out2.join("b.npy")).unwrap().shape,
        vec![1056, 128]
    );

    // Two inputs that would write the same <stem>.npy are refused before any work.
    let o = tympan(&[
        "features",
        s(&fixtures().join("audio")),
        "-o",
        s(&dir.path().join("x")),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("would both write"), "{}", stderr(&o));

    // Contradictions are refused before any work.
    let o = tympan(&[
        "features",
        "--preset",
        "psla",
        "--num-mel-bins",
        "64",
        s(&a),
        "-o",
        s(&out),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--preset psla"), "{}", stderr(&o));
}

#[test]
fn broken_inputs_give_one_line_errors_and_failure() {
    let dir = tempfile::tempdir().unwrap();
    for (path, kind) in broken_files(dir.path()) {
        let out = dir.path().join("out.npy");
        let o = tympan(&["features", s(&path), "-o", s(&out)]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{}: should fail", path.display());
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line for {kind}: {err}"
        );
        assert!(
            err.starts_with("error: ") && err.contains(s(&path)),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "no output for a failed input");
    }
    // In a batch, good files are still written and the exit status reports the failures.
    let good = fixtures().join("audio/clip.flac");
    let bad = dir.path().join("notes.wav");
    let out = dir.path().join("batch");
    let o = tympan(&["features", s(&good), s(&bad), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.join("clip.npy").exists());
    assert!(stderr(&o).contains("1 of 2 files failed"), "{}", stderr(&o));
}

#[test]
fn metrics_text_json_and_csv() {
    let f = fixture_json("metrics.json");
    let (rows, cols) = (
        f["rows"].as_u64().unwrap() as usize,
        f["cols"].as_u64().unwrap() as usize,
    );
    let floats = |k: &str| -> Vec<f32> {
        f[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let sp = dir.path().join("s.npy");
    let tp = dir.path().join("t.csv");
    npy::write(&sp, &floats("scores"), &[rows, cols]).unwrap();
    let t = floats("targets");
    let csv: String = std::iter::once(
        (0..cols)
            .map(|c| format!("c{c}"))
            .collect::<Vec<_>>()
            .join(","),
    )
    .chain(t.chunks(cols).map(|r| {
        r.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }))
    .map(|l| l + "\n")
    .collect();
    std::fs::write(&tp, csv).unwrap();

    let o = tympan(&[
        "metrics",
        "--scores",
        s(&sp),
        "--targets",
        s(&tp),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((j["map"].as_f64().unwrap() - f["map"].as_f64().unwrap()).abs() < 1e-12);
    assert!((j["d_prime"].as_f64().unwrap() - f["d_prime"].as_f64().unwrap()).abs() < 1e-12);
    assert_eq!(j["excluded_ap"], serde_json::json!([3]));

    // The per-class table as CSV: a header and one row per class, AP as in the JSON.
    let o = tympan(&[
        "metrics",
        "--scores",
        s(&sp),
        "--targets",
        s(&tp),
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "class,name,positives,ap,auc");
    assert_eq!(rows.len(), cols + 1, "{text}");
    let ap0: f64 = rows[1].split(',').nth(3).unwrap().parse().unwrap();
    assert!(
        (ap0 - j["classes"][0]["ap"].as_f64().unwrap()).abs() < 1e-6,
        "{text}"
    );

    let o = tympan(&[
        "metrics",
        "--scores",
        s(&sp),
        "--targets",
        s(&tp),
        "--per-class",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("mAP          {:.6}", f["map"].as_f64().unwrap())),
        "{text}"
    );
    assert!(
        text.contains("1 class(es) without positive examples"),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count(),
        cols
    );

    // Single-label targets as indices: MAP@3 against the DCASE definition.
    let lp = dir.path().join("labels.csv");
    let labels: String = f["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{v}\n"))
        .collect();
    std::fs::write(&lp, labels).unwrap();
    let o = tympan(&["metrics", "--scores", s(&sp), "--targets", s(&lp), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((j["map_at_3"].as_f64().unwrap() - f["map_at_3"].as_f64().unwrap()).abs() < 1e-12);

    // Shape mismatch: one-line error, failure.
    let o = tympan(&[
        "metrics",
        "--scores",
        s(&sp),
        "--targets",
        s(&fixtures().join("audio/pcm_24.wav.expected.npy")),
    ]);
    assert!(!o.status.success());
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn enhance_labels_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (o, c, d, preds) = write_toy_audioset(dir.path());
    let p = dir.path().join("p.npy");
    npy::write(&p, &preds, &[4, 4]).unwrap();
    let out = dir.path().join("enh.json");
    let args = [
        "enhance-labels",
        "--datafile",
        s(&d),
        "--predictions",
        s(&p),
        "--ontology",
        s(&o),
        "--labels",
        s(&c),
    ];
    let o1 = tympan(
        &[
            &args[..],
            &["--type", "12", "--threshold", "mean", "-o", s(&out)],
        ]
        .concat(),
    );
    assert!(o1.status.success(), "{}", stderr(&o1));
    let enhanced = tympan_data::Datafile::load(&out).unwrap();
    let labels: Vec<&str> = enhanced.data.iter().map(|e| e.labels.as_str()).collect();
    assert_eq!(labels, ["/d,/b", "/d", "/b,/d", "/m"]);
    assert!(String::from_utf8_lossy(&o1.stdout).contains("added 2 labels to 2 of 4 clips"));
    // The same teacher scores as PSLA ships them (np.savetxt text) give the same datafile.
    let pc = dir.path().join("predictions.csv");
    let text: String = preds
        .chunks(4)
        .map(|r| {
            let row: Vec<String> = r.iter().map(|v| format!("{:.18e}", *v as f64)).collect();
            row.join(",") + "\n"
        })
        .collect();
    std::fs::write(&pc, text).unwrap();
    let out_csv = dir.path().join("enh_csv.json");
    let mut a: Vec<&str> = args.to_vec();
    a[4] = s(&pc);
    let o3 = tympan(
        &[
            &a[..],
            &["--type", "12", "--threshold", "mean", "-o", s(&out_csv)],
        ]
        .concat(),
    );
    assert!(o3.status.success(), "{}", stderr(&o3));
    assert_eq!(tympan_data::Datafile::load(&out_csv).unwrap(), enhanced);
    // Wrong prediction shape: one-line error naming the file.
    npy::write(&p, &preds[..12], &[3, 4]).unwrap();
    let o2 = tympan(&[&args[..], &["--type", "1", "-o", s(&out)]].concat());
    assert!(!o2.status.success());
    assert!(
        stderr(&o2).contains("p.npy") && stderr(&o2).trim_end().lines().count() == 1,
        "{}",
        stderr(&o2)
    );
}

#[test]
fn stats_match_a_direct_computation() {
    let files = [
        fixtures().join("audio/pcm_24.wav"),
        fixtures().join("audio/clip.flac"),
    ];
    // `tympan stats ARGS --json` on both files, which must succeed; its JSON.
    let stats_json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["stats"];
        all.extend_from_slice(args);
        all.extend(["--json", s(&files[0]), s(&files[1])]);
        let o = tympan(&all);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let j = stats_json(&["--preset", "psla", "--batch-size", "1"]);
    assert_eq!(j["clips"], 2);
    assert_eq!(j["stats"]["count"], 2 * 1056 * 128);
    // Un-normalised PSLA features of each clip; with one clip per batch the PSLA mean is the mean
    // of the two clip means.
    let clip_mean = |p: &Path| {
        let w = tympan_audio::load::load(p, &Default::default()).unwrap();
        let f = tympan_audio::Preset::psla()
            .extractor(w.sample_rate)
            .unwrap()
            .compute(&w.samples)
            .unwrap();
        f.data
            .iter()
            .map(|&v| (v * 4.5699 - 4.6476) as f64)
            .sum::<f64>()
            / f.data.len() as f64
    };
    let want = (clip_mean(&files[0]) + clip_mean(&files[1])) / 2.0;
    assert!(
        (j["stats"]["psla_mean"].as_f64().unwrap() - want).abs() < 1e-4,
        "{j}"
    );
    // --arch takes the preset from the model card: a PSLA model gives the same numbers.
    let k = stats_json(&["--arch", "psla-effnet-lite0", "--batch-size", "1"]);
    assert_eq!(k["stats"], j["stats"]);
    // --target-length pads or cuts to the recipe's length instead of the preset's 1056 frames.
    let t = stats_json(&["--preset", "psla", "--target-length", "100"]);
    assert_eq!(t["stats"]["count"], 2 * 100 * 128);
    let other = tympan(&[
        "stats",
        "--preset",
        "vggish",
        "--target-length",
        "100",
        s(&files[0]),
    ]);
    assert!(!other.status.success());
    assert!(
        stderr(&other).contains("psla presets only"),
        "{}",
        stderr(&other)
    );
    // A waveform model has no feature statistics: one clear line.
    let wave = tympan(&["stats", "--arch", "m11", s(&files[0])]);
    assert!(!wave.status.success());
    assert!(
        stderr(&wave).contains("m11 reads raw waveforms"),
        "{}",
        stderr(&wave)
    );
}

/// `tympan tag` on a PSLA checkpoint (the golden B2 fixture, DataParallel keys) and a real 7 s
/// AudioSet clip at 32 kHz (resampled to 16 kHz): top-k table, JSON, raw scores, per-window
/// scores and the timeline PNG.
#[test]
fn tag_end_to_end() {
    let Some(data) = tympan_tests::require_data("tag_end_to_end") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let weights = tympan_tests::fixtures().join("models/psla_effnet_b2_h4_527.pth");
    let labels = data.join("audioset/class_labels_indices.csv");
    let clip = data.join("audioset/R9_ZSCveAHg_7s.wav");
    let scores = dir.path().join("scores.npy");
    let svg = dir.path().join("timeline.svg");
    let windows = dir.path().join("windows");
    let o = tympan(&[
        "tag",
        "--arch",
        "psla-effnet-b2",
        "--weights",
        s(&weights),
        "--labels",
        s(&labels),
        "--top-k",
        "5",
        "--mean",
        "-4.6476",
        "--std",
        "4.5699",
        "--frames",
        "256",
        "--hop-s",
        "1.28",
        "--scores-out",
        s(&scores),
        "--timeline",
        s(&svg),
        "--windows-out",
        s(&windows),
        s(&clip),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(out.contains("windows)"), "{out}");
    let sc = tympan_audio::npy::read(&scores).unwrap();
    assert_eq!(sc.shape, vec![1, 527]);
    let w = tympan_audio::npy::read(&windows.join("R9_ZSCveAHg_7s.npy")).unwrap();
    // 7 s = 698 frames: windows start at 0, 128, ..., 512 (the last one reaches the end).
    assert_eq!(w.shape, vec![5, 527]);
    // The clip score is the mean over windows.
    let mean0: f32 = (0..5).map(|i| w.data[i * 527]).sum::<f32>() / 5.0;
    assert!((mean0 - sc.data[0]).abs() < 1e-6);
    // The timeline is a figure a person reads: the file as title, the classes with the highest
    // peak over the windows by name (so that short events show), seconds on the x axis, a colour
    // scale.
    let figure = std::fs::read_to_string(&svg).unwrap();
    assert!(figure.starts_with("<svg") && figure.trim_end().ends_with("</svg>"));
    for part in ["R9_ZSCveAHg_7s.wav", "time (s)", ">score<"] {
        assert!(figure.contains(part), "{part} missing from the timeline");
    }
    let names = tympan::tag::read_labels(&labels).unwrap();
    let peak = |c: usize| (0..5).map(|i| w.data[i * 527 + c]).fold(f32::MIN, f32::max);
    let mut by_peak: Vec<usize> = (0..527).collect();
    by_peak.sort_by(|&i, &j| peak(j).total_cmp(&peak(i)));
    for &c in &by_peak[..5] {
        let escaped = names[c]
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            figure.contains(&format!(">{escaped}<")),
            "class {:?} not labelled",
            names[c]
        );
    }
    // JSON output and a wrong architecture.
    let stated = [
        "--labels",
        s(&labels),
        "--mean",
        "-4.6476",
        "--std",
        "4.5699",
    ];
    let args = |arch: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["tag", "--arch", arch, "--weights", s(&weights)]
            .iter()
            .map(|a| a.to_string())
            .collect();
        v.extend(extra.iter().map(|a| a.to_string()));
        v
    };
    let run = |a: &[String]| tympan(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let mut a = args("psla-effnet-b2", &["--format", "json"]);
    a.extend(stated.iter().map(|x| x.to_string()));
    a.push(s(&clip).to_string());
    let o = run(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["top"].as_array().unwrap().len(), 10);
    // Weights alone without their classes or statistics are refused, naming the flags to give
    // (they were scored as `class N` with AudioSet's statistics before).
    for missing in ["--labels", "--mean", "--std"] {
        let mut a = args("psla-effnet-b2", &[]);
        let mut it = stated.iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if *k != missing {
                a.extend([k.to_string(), v.to_string()]);
            }
        }
        a.push(s(&clip).to_string());
        let o = run(&a);
        assert!(!o.status.success(), "without {missing}");
        assert!(stderr(&o).contains(missing), "{missing}: {}", stderr(&o));
    }
    // Flags that belong to another source are refused, not ignored.
    let mut a = args("psla-effnet-b2", &["--checkpoint", "last"]);
    a.extend(stated.iter().map(|x| x.to_string()));
    a.push(s(&clip).to_string());
    assert!(!run(&a).status.success(), "--checkpoint beside --arch");
    let o = tympan(&[
        "tag",
        "--pretrained",
        "psla-audioset",
        "--frames",
        "100",
        s(&clip),
    ]);
    assert!(!o.status.success(), "--frames beside --pretrained");
    // `tympan evaluate` on a PSLA datafile: the label mids are read with the weights' AudioSet
    // class list (--labels), an absent file is skipped and counted, and the clip's scores are
    // `tympan tag`'s (a 7 s clip is one 1056-frame window, padded, either way).
    let df = dir.path().join("eval.json");
    std::fs::write(
        &df,
        serde_json::json!({"data": [
            {"wav": s(&clip), "labels": "/m/04rlf,/m/09x0r"},
            {"wav": s(&dir.path().join("absent.wav")), "labels": "/m/09x0r"},
        ]})
        .to_string(),
    )
    .unwrap();
    let ev = dir.path().join("eval");
    let mut a = args("psla-effnet-b2", &["--datafile", s(&df), "-o", s(&ev)]);
    a[0] = "evaluate".into();
    a.extend(stated.iter().map(|x| x.to_string()));
    let o = run(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = tympan_audio::npy::read(&ev.join("scores.npy")).unwrap();
    assert_eq!(got.shape, vec![1, 527]);
    let tag_scores = dir.path().join("tag.npy");
    let mut a = args("psla-effnet-b2", &["-o", s(&tag_scores)]);
    a.extend(stated.iter().map(|x| x.to_string()));
    a.push(s(&clip).to_string());
    assert!(run(&a).status.success());
    let by_tag = tympan_audio::npy::read(&tag_scores).unwrap();
    let d = tympan_tests::max_abs_diff(&got.data, &by_tag.data);
    assert!(d <= 1e-6, "evaluate vs tag: {d}");
    let t = tympan_audio::npy::read(&ev.join("targets.npy")).unwrap();
    assert_eq!(t.data.iter().sum::<f32>(), 2.0);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ev.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        (summary["clips"].as_u64(), summary["missing"].as_u64()),
        (Some(1), Some(1))
    );
    let mut a = args("psla-effnet-b0", &[]);
    a.extend(stated.iter().map(|x| x.to_string()));
    a.push(s(&clip).to_string());
    let o = run(&a);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("psla_effnet_b2_h4_527.pth"),
        "{}",
        stderr(&o)
    );
}

/// `tympan embed` on a real 7 s clip: per-patch rows (7 patches of 960 ms) and per-clip rows
/// that are their mean, from a saved Hershey model with a 128-d bottleneck.
#[test]
fn embed_patches_and_clips() {
    let Some(data) = tympan_tests::require_data("embed_patches_and_clips") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let device = tympan_models::Backend::Flex.device().unwrap();
    let model = tympan_models::create("hershey-fc-b128", 10, &device).unwrap();
    let weights = dir.path().join("m.bpk");
    tympan_models::save_burnpack(&model, &weights).unwrap();
    let clip = data.join("audioset/R9_ZSCveAHg_7s.wav");
    let run = |per: &str, out: &Path| {
        let o = tympan(&[
            "embed",
            "--arch",
            "hershey-fc-b128",
            "--weights",
            s(&weights),
            "--classes",
            "10",
            "--per",
            per,
            "--mean",
            "-1.0",
            "--std",
            "1.7",
            s(&clip),
            "-o",
            s(out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        npy::read(out).unwrap()
    };
    let patches = run("patch", &dir.path().join("p.npy"));
    // 7 s at 16 kHz: 698 frames of 10 ms, 7 whole 96-frame patches.
    assert_eq!(patches.shape, vec![7, 128]);
    let clip_rows = run("clip", &dir.path().join("c.npy"));
    assert_eq!(clip_rows.shape, vec![1, 128]);
    for d in 0..128 {
        let mean: f32 = (0..7).map(|p| patches.data[p * 128 + d]).sum::<f32>() / 7.0;
        assert!((mean - clip_rows.data[d]).abs() < 1e-4, "dim {d}");
    }
    let listing = std::fs::read_to_string(dir.path().join("p.txt")).unwrap();
    assert_eq!(listing.lines().count(), 7);
    // Without the normalisation the model was trained with: refused, not silently 0/1.
    let o = tympan(&[
        "embed",
        "--arch",
        "hershey-fc-b128",
        "--weights",
        s(&weights),
        "--classes",
        "10",
        s(&clip),
        "-o",
        s(&dir.path().join("x.npy")),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--mean"), "{}", stderr(&o));
    // Not a Hershey model: a clear error.
    let o = tympan(&[
        "embed",
        "--arch",
        "m11",
        "--weights",
        s(&weights),
        "--classes",
        "10",
        "--mean",
        "0",
        "--std",
        "1",
        s(&clip),
        "-o",
        s(&dir.path().join("x.npy")),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Hershey"), "{}", stderr(&o));
}

/// `tympan tag --run DIR` with a run that `tympan_train::run` has just trained (Hershey et al.'s
/// FC network on real FSDD clips, VGGish input, not a PSLA model): nothing is restated, neither
/// the architecture nor the classes, the rate or the normalisation. The clip score of a test clip
/// is the row `predictions.npy` holds for it: the same pipeline and model (`--checkpoint last`),
/// within 1e-6.
#[test]
fn tag_with_a_run_folder() {
    let Some(data) = tympan_tests::require_data("tag_with_a_run_folder") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = tympan_tests::small_fsdd_manifest(&data, dir.path());
    let text = tympan_tests::hershey_fc_recipe("tagrun", &manifest, 8, 1, 0);
    let recipe = tympan_train::Recipe::from_toml(&text, Path::new("tagrun.toml"), &[]).unwrap();
    let out = dir.path().join("run");
    tympan_tests::train_on_flex(&recipe, &out).unwrap();
    // The manifest is digit-major: the first test clip is digit 0, george, take 0.
    let clip = data.join("fsdd/recordings/0_george_0.wav");
    let scores = dir.path().join("scores.npy");
    let o = tympan(&[
        "tag",
        "--run",
        s(&out),
        "--checkpoint",
        "last",
        "--top-k",
        "3",
        "--scores-out",
        s(&scores),
        s(&clip),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), 4, "{text}");
    let sc = npy::read(&scores).unwrap();
    assert_eq!(sc.shape, vec![1, 3]);
    let preds = npy::read(&out.join("predictions.npy")).unwrap();
    let d = tympan_tests::max_abs_diff(&sc.data, &preds.data[..3]);
    assert!(d <= 1e-6, "tag --run vs the run's own predictions: {d}");
    // JSON lines: one object per file as it finishes, and a line for a file that fails.
    let o = tympan(&[
        "tag",
        "--run",
        s(&out),
        "--format",
        "jsonl",
        s(&clip),
        s(&dir.path().join("absent.wav")),
    ]);
    assert!(!o.status.success(), "a failed file fails the command");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["top"].as_array().unwrap().len(), 3);
    assert!(lines[1]["error"].as_str().unwrap().contains("absent.wav"));
    // `tympan evaluate` on the run's test list (fold 0 of the manifest) is the run's own
    // end-of-run evaluation: its predictions and targets, its last-epoch mAP and AUC.
    let ev = dir.path().join("eval");
    let o = tympan(&[
        "evaluate",
        "--run",
        s(&out),
        "--checkpoint",
        "last",
        "--manifest",
        s(&manifest),
        "--fold",
        "0",
        "-o",
        s(&ev),
        "--psla-csv",
        "--psla-stats",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = npy::read(&ev.join("scores.npy")).unwrap();
    assert_eq!(got.shape, preds.shape);
    // PSLA's text copies (np.savetxt, %.18e) hold the same values, bit for bit.
    for (csv, npy_name) in [
        ("predictions.csv", "scores.npy"),
        ("target.csv", "targets.npy"),
    ] {
        let text = std::fs::read_to_string(ev.join(csv)).unwrap();
        let values: Vec<f32> = text
            .lines()
            .flat_map(|l| l.split(',').map(|v| v.parse::<f32>().unwrap()))
            .collect();
        assert_eq!(text.lines().count(), got.shape[0], "{csv}");
        assert_eq!(values, npy::read(&ev.join(npy_name)).unwrap().data, "{csv}");
    }
    let d = tympan_tests::max_abs_diff(&got.data, &preds.data);
    assert!(d <= 1e-6, "evaluate vs the run's predictions: {d}");
    let targets = npy::read(&ev.join("targets.npy")).unwrap();
    assert_eq!(
        targets.data,
        npy::read(&out.join("targets.npy")).unwrap().data
    );
    let mine: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ev.join("summary.json")).unwrap()).unwrap();
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for (a, b) in [("map", "map"), ("mean_auc", "auc")] {
        let (x, y) = (
            mine[a].as_f64().unwrap(),
            run["last_epoch"][b].as_f64().unwrap(),
        );
        assert!((x - y).abs() <= 1e-9, "{a}: {x} against the run's {y}");
    }
    // Per-class AP by hand from the written scores: the mean, over the class's positives, of the
    // precision at each positive's rank (no ties among these scores).
    let n = got.shape[0];
    let rows: Vec<String> = std::fs::read_to_string(ev.join("per_class.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(rows.len(), 3);
    for (c, row) in rows.iter().enumerate() {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| got.data[j * 3 + c].total_cmp(&got.data[i * 3 + c]));
        let (mut hits, mut sum) = (0.0f64, 0.0f64);
        for (rank, &i) in order.iter().enumerate() {
            if targets.data[i * 3 + c] > 0.5 {
                hits += 1.0;
                sum += hits / (rank + 1) as f64;
            }
        }
        let ap: f64 = row.split(',').nth(3).unwrap().parse().unwrap();
        assert!(
            (ap - sum / hits).abs() < 1e-6,
            "class {c}: {ap} by hand {}",
            sum / hits
        );
    }
    // PSLA's stats pickle: one dict per class whose AP and AUC are the summary's, curves that
    // start where sklearn's do, and PSLA's argmax accuracy (single-label list: the summary's).
    let stats = read_psla_stats(&ev.join("stats.pickle"));
    assert_eq!(stats.len(), 3);
    for (c, d) in stats.iter().enumerate() {
        let class = &mine["per_class"][c];
        assert_eq!(
            float(&d["AP"]),
            class["ap"].as_f64().unwrap(),
            "class {c} AP"
        );
        assert_eq!(
            float(&d["auc"]),
            class["auc"].as_f64().unwrap(),
            "class {c} AUC"
        );
        assert_eq!(float(&d["acc"]), mine["accuracy"].as_f64().unwrap());
        // Fewer than 1000 points: only the first of each curve is kept, sklearn's first point
        // (lowest threshold: precision = the positive rate, recall 1; ROC at (0, 0), fnr 1).
        let positives = (0..n).filter(|&i| targets.data[i * 3 + c] > 0.5).count() as f64;
        assert_eq!(floats(&d["precisions"]), vec![positives / n as f64]);
        assert_eq!(floats(&d["recalls"]), vec![1.0]);
        assert_eq!(floats(&d["fpr"]), vec![0.0]);
        assert_eq!(floats(&d["fnr"]), vec![1.0]);
    }
    // The same test clips as a folder of class folders (`--folder`): the list comes in another
    // order, so the order-free figures must agree with the manifest's.
    let folder = dir.path().join("by-class");
    let manifest_text = std::fs::read_to_string(&manifest).unwrap();
    let mut copied = 0;
    for row in manifest_text.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        if f[2] != "0" {
            continue;
        }
        let src = Path::new(f[0]);
        let class = folder.join(f[1]);
        std::fs::create_dir_all(&class).unwrap();
        std::fs::copy(src, class.join(src.file_name().unwrap())).unwrap();
        copied += 1;
    }
    let ev2 = dir.path().join("eval-folder");
    let o = tympan(&[
        "evaluate",
        "--run",
        s(&out),
        "--checkpoint",
        "last",
        "--folder",
        s(&folder),
        "-o",
        s(&ev2),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let by_folder: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ev2.join("summary.json")).unwrap()).unwrap();
    assert_eq!(by_folder["clips"].as_u64(), Some(copied));
    assert_eq!(copied as usize, n);
    for key in ["map", "mean_auc", "accuracy"] {
        let (x, y) = (
            by_folder[key].as_f64().unwrap(),
            mine[key].as_f64().unwrap(),
        );
        assert!(
            (x - y).abs() <= 1e-9,
            "--folder {key} {x} against --manifest {y}"
        );
    }
    // The run folder is a model card: card.json holds the architecture, the input contract
    // with the run's normalisation, and the classes.
    let card = tympan::infer::ModelCard::read(&out).unwrap();
    assert_eq!(card.arch, "hershey-fc");
    assert_eq!(card.classes.len(), 3);
    assert_eq!(card.input.input, tympan::infer::InputKind::Vggish);
    assert!(card.checkpoints.contains(&"model-last.bpk".to_string()));
    // The run's model is not a PSLA fbank model: --arch/--weights say to use --run.
    let names = dir.path().join("digits.txt");
    std::fs::write(&names, "zero\none\ntwo\n").unwrap();
    let o = tympan(&[
        "tag",
        "--arch",
        "hershey-fc",
        "--weights",
        s(&out.join("model-last.bpk")),
        "--labels",
        s(&names),
        "--mean",
        "0",
        "--std",
        "1",
        s(&clip),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--run"), "{}", stderr(&o));
    // --run says everything: restating the architecture is refused.
    let o = tympan(&["tag", "--run", s(&out), "--arch", "hershey-fc", s(&clip)]);
    assert!(!o.status.success());
    // A folder that is not a finished run names what is missing.
    let o = tympan(&["tag", "--run", s(dir.path()), s(&clip)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("card.json"), "{}", stderr(&o));
}

/// `tympan train` runs a recipe as the library does (`cargo xtask train` calls the same
/// `tympan_train::launch::prepare` and `tympan_train::run`): the same predictions, bit for bit,
/// and the same metrics rows but for their seconds. A fresh run into a finished run's folder is
/// refused; a mistyped recipe name lists the recipes.
#[test]
fn tympan_train_is_the_library_run() {
    let Some(data) = tympan_tests::require_data("tympan_train_is_the_library_run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = tympan_tests::small_fsdd_manifest(&data, dir.path());
    let text = tympan_tests::hershey_fc_recipe("cli-train", &manifest, 8, 2, 0);
    let recipe_file = dir.path().join("cli-train.toml");
    std::fs::write(&recipe_file, &text).unwrap();
    let by_cli = dir.path().join("by-cli");
    let o = tympan(&["train", s(&recipe_file), "--out", s(&by_cli)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("single model, last epoch"));
    let recipe = tympan_train::Recipe::from_toml(&text, &recipe_file, &[]).unwrap();
    let by_lib = dir.path().join("by-lib");
    tympan_tests::train_on_flex(&recipe, &by_lib).unwrap();
    // (Model files hold Burn's per-process parameter ids, so their bytes differ; the
    // predictions of the last and the best model are their outputs.)
    for f in [
        "predictions.npy",
        "predictions-best.npy",
        "targets.npy",
        "card.json",
    ] {
        let same = std::fs::read(by_cli.join(f)).unwrap() == std::fs::read(by_lib.join(f)).unwrap();
        assert!(same, "{f} differs");
    }
    let rows = tympan_tests::metrics_rows_without_seconds(&by_cli);
    assert_eq!(rows, tympan_tests::metrics_rows_without_seconds(&by_lib));
    assert_eq!(rows.len(), 2);
    let o = tympan(&["train", s(&recipe_file), "--out", s(&by_cli)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    let o = tympan(&[
        "train",
        "fsdd-psl",
        "--recipes",
        s(&tympan_tests::workspace_root().join("experiments")),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("fsdd-psla"), "{}", stderr(&o));
}

/// `tympan completions <shell>` prints a completion script that knows the subcommands and flags.
#[test]
fn completions_know_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let o = tympan(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        for word in ["evaluate", "tag", "pretrained"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
    }
    assert!(!tympan(&["completions", "cmd.exe"]).status.success());
}

/// `tympan man` writes a page per command, each a roff page that names its options; every
/// subcommand's `--help` ends with examples.
#[test]
fn man_pages_and_examples_cover_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man");
    let o = tympan(&["man", "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    assert!(page("tympan.1").starts_with(".ie") || page("tympan.1").contains(".TH tympan"));
    assert!(page("tympan-tag.1").contains("pretrained"));
    assert!(page("tympan-models-list.1").contains("format"));
    for sub in [
        "features",
        "metrics",
        "enhance-labels",
        "stats",
        "models",
        "tag",
        "train",
        "evaluate",
        "ensemble",
        "embed",
        "probe",
        "completions",
        "man",
    ] {
        let o = tympan(&[sub, "--help"]);
        assert!(o.status.success(), "{sub}: {}", stderr(&o));
        let help = String::from_utf8_lossy(&o.stdout);
        let examples = help
            .split_once("Examples:")
            .map(|(_, e)| e)
            .unwrap_or_default();
        assert!(
            examples.lines().any(|l| l.starts_with("  tympan ")),
            "{sub} --help has no examples:\n{help}"
        );
        assert!(
            out.join(format!("tympan-{sub}.1")).is_file(),
            "no page for {sub}"
        );
    }
    // A list nests (a model's input), so `models list` offers no CSV.
    assert!(
        !tympan(&["models", "list", "--format", "csv"])
            .status
            .success()
    );
}

/// `tympan metrics --psla-stats` against PSLA's own `calculate_stats` (src/utilities/stats.py,
/// fixture by `scripts/generate_reference.py --only psla_stats`): 2,300 clips, so the curves keep
/// three of their every-1000th points. Every value within 1e-12 absolute.
#[test]
fn psla_stats_pickle_matches_psla() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures().join("psla_stats");
    let out = dir.path().join("stats.pickle");
    let o = tympan(&[
        "metrics",
        "--scores",
        s(&f.join("scores.npy")),
        "--targets",
        s(&f.join("targets.npy")),
        "--psla-stats",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = fixture_json("psla_stats/stats.json");
    let want = want["stats"].as_array().unwrap();
    let got = read_psla_stats(&out);
    assert_eq!(got.len(), want.len());
    for (c, (g, w)) in got.iter().zip(want).enumerate() {
        let w = w.as_object().unwrap();
        assert_eq!(g.len(), w.len(), "class {c}: keys");
        for (k, wv) in w {
            // A list where PSLA has an array, a float where it has a number.
            let (gv, wv): (Vec<f64>, Vec<f64>) = match wv {
                serde_json::Value::Array(a) => (
                    floats(&g[k]),
                    a.iter().map(|x| x.as_f64().unwrap()).collect(),
                ),
                x => (vec![float(&g[k])], vec![x.as_f64().unwrap()]),
            };
            assert_eq!(gv.len(), wv.len(), "class {c} {k}: {gv:?} vs PSLA {wv:?}");
            for (a, b) in gv.iter().zip(&wv) {
                assert!((a - b).abs() <= 1e-12, "class {c} {k}: {a} vs PSLA {b}");
            }
        }
    }
}

/// A PSLA stats pickle read back: a list with one dict per class, keyed by name.
fn read_psla_stats(path: &Path) -> Vec<std::collections::BTreeMap<String, serde_pickle::Value>> {
    let file = std::fs::File::open(path).unwrap();
    let value: serde_pickle::Value =
        serde_pickle::from_reader(file, serde_pickle::DeOptions::new()).unwrap();
    let serde_pickle::Value::List(classes) = value else {
        panic!("{} holds {value:?}, not a list", path.display())
    };
    classes
        .into_iter()
        .map(|d| {
            let serde_pickle::Value::Dict(d) = d else {
                panic!("{d:?} is not a dict")
            };
            d.into_iter()
                .map(|(k, v)| match k {
                    serde_pickle::HashableValue::String(k) => (k, v),
                    other => panic!("key {other:?} is not a string"),
                })
                .collect()
        })
        .collect()
}

/// A pickled float.
fn float(v: &serde_pickle::Value) -> f64 {
    match v {
        serde_pickle::Value::F64(x) => *x,
        other => panic!("{other:?} is not a float"),
    }
}

/// A pickled list of floats.
fn floats(v: &serde_pickle::Value) -> Vec<f64> {
    match v {
        serde_pickle::Value::List(l) => l.iter().map(float).collect(),
        other => panic!("{other:?} is not a list"),
    }
}
