//! PSLA's two label-enhancement chains of docs/training.md, end to end with the commands a user
//! types, on real clips and real label lists:
//!
//! - AudioSet's balanced set (PSLA Table VIII): a teacher trained with `psla-full`, its
//!   weight-averaged model scored over the balanced list with `tympan evaluate`, the list
//!   enhanced with `tympan enhance-labels --type 12 --threshold mean`, then `psla-balanced`
//!   trained on the enhanced list. Rows come from the real `balanced_train_segments.csv` and
//!   `eval_segments.csv` (so every label and the ontology are the real ones); the audio is real
//!   UrbanSound8K clips.
//! - FSD50K as PSLA's `egs/fsd50k` runs it: PSLA's datafiles written from an official layout
//!   (`vocabulary.csv` the real 200 classes, `dev.csv` with its train/val split, `eval.csv`) of
//!   real UrbanSound8K clips labelled after their class, a `psla-fsd50k` teacher on the original
//!   labels, its scores over the training list, the enhanced list, then `psla-fsd50k` as shipped.
//!
//! The recipes are the shipped ones; `--set` shrinks only the budget (batch, draws, one epoch)
//! and starts the students from random weights (the ImageNet B2 weights are not fetched
//! offline); the teachers are Lite0 from ImageNet ([`teacher_settings`]). What is
//! checked is the chain: each step reads what the one before wrote, the enhanced list keeps every
//! original label in the original order of clips, and the student trains on exactly the
//! enhanced labels (its `class_counts.csv` counts them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tympan_data::audioset::{Segment, read_segments};
use tympan_data::{ClassList, Datafile, DatafileEntry};

/// Runs `tympan args`, which must succeed; its stdout and stderr.
fn ok(args: &[&str]) -> String {
    tympan_tests::run_ok(env!("CARGO_BIN_EXE_tympan"), args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The shipped recipes' folder.
fn recipes() -> PathBuf {
    tympan_tests::workspace_root().join("experiments")
}

/// The teachers: EfficientNet-Lite0 from the ImageNet weights in `../shared/data/weights`
/// (the B2 weights cannot be fetched offline, and with a B2 teacher from random weights after
/// two steps no label passed a threshold in either chain); PSLA's teacher is any model trained
/// on the labels.
fn teacher_settings(data: &Path) -> Vec<String> {
    let weights = data.join("weights/efficientnet-lite0-57934424.pth");
    vec![
        "--set".into(),
        "model.arch=\"psla-effnet-lite0\"".into(),
        "--set".into(),
        format!("model.pretrained=\"{}\"", weights.display()),
        "--set".into(),
        "model.bn_momentum=0.1".into(),
    ]
}

/// `tympan train recipe --data-dir data --out out` at the test budget
/// ([`tympan_tests::PSLA_TEST_BUDGET`]), plus `extra` settings.
fn train(recipe: &str, data: &Path, out: &Path, extra: &[String]) -> String {
    let r = recipes();
    let mut args = vec![
        "train",
        recipe,
        "--recipes",
        s(&r),
        "--data-dir",
        s(data),
        "--out",
        s(out),
    ];
    args.extend(tympan_tests::PSLA_TEST_BUDGET);
    args.extend(extra.iter().map(String::as_str));
    ok(&args)
}

/// Real UrbanSound8K clips of fold 1, sorted, with their class id (the file name's second field).
fn us8k_clips(data: &Path) -> Vec<(PathBuf, u32)> {
    tympan_tests::us8k_fold1_clips(data)
        .into_iter()
        .map(|p| {
            let class = p.file_stem().unwrap().to_str().unwrap().split('-').nth(1);
            let class = class
                .and_then(|c| c.parse().ok())
                .expect("fsID-classID-...");
            (p, class)
        })
        .collect()
}

/// Positive labels per class of a datafile.
fn label_counts(d: &Datafile) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for e in &d.data {
        for l in e.label_list() {
            *n.entry(l.to_string()).or_insert(0) += 1;
        }
    }
    n
}

/// Scores the teacher's weight-averaged model over `list`, enhances `list` with them (both
/// error types, mean threshold), and checks the enhanced list against the original: the same
/// clips in the same order, every original label kept, and as many labels added as the command
/// says. Returns the enhanced datafile.
fn enhance(
    teacher: &Path,
    list: &Path,
    ontology: &Path,
    classes: &Path,
    enhanced: &Path,
) -> Datafile {
    let scored = teacher.with_extension("scores");
    ok(&[
        "evaluate",
        "--run",
        s(teacher),
        "--checkpoint",
        "wa",
        "--datafile",
        s(list),
        "-o",
        s(&scored),
    ]);
    let original = Datafile::load(list).unwrap();
    let n_classes = ClassList::load(classes).unwrap().len();
    let scores = tympan_audio::npy::read(&scored.join("scores.npy")).unwrap();
    assert_eq!(scores.shape, [original.data.len(), n_classes]);
    let out = ok(&[
        "enhance-labels",
        "--datafile",
        s(list),
        "--predictions",
        s(&scored.join("scores.npy")),
        "--ontology",
        s(ontology),
        "--labels",
        s(classes),
        "--type",
        "12",
        "--threshold",
        "mean",
        "-o",
        s(enhanced),
    ]);
    let d = Datafile::load(enhanced).unwrap();
    assert_eq!(d.data.len(), original.data.len());
    let mut added = 0;
    for (e, o) in d.data.iter().zip(&original.data) {
        assert_eq!(e.wav, o.wav, "clip order kept");
        let new: Vec<&str> = e.label_list().collect();
        for l in o.label_list() {
            assert!(new.contains(&l), "{}: {l} dropped", e.wav);
        }
        added += new.len() - o.label_list().count();
    }
    let said = format!("added {added} labels to ");
    eprintln!("{}", out.trim());
    assert!(out.contains(&said), "expected {said:?} in:\n{out}");
    // Each list has tens of candidate labels (ancestors and children of the original labels with
    // positives of their own), each added when the teacher scores it above its class's mean:
    // with scores that differ from clip to clip, some are.
    assert!(added > 0, "no label added:\n{out}");
    d
}

/// The student's `class_counts.csv` training column: exactly the labels of `enhanced`.
fn assert_trained_on(run: &Path, classes: &Path, enhanced: &Datafile) {
    let want = label_counts(enhanced);
    let list = ClassList::load(classes).unwrap();
    let text = std::fs::read_to_string(run.join("class_counts.csv")).unwrap();
    let mut seen = BTreeMap::new();
    for (row, class) in text.lines().skip(1).zip(list.classes()) {
        let train: usize = row.rsplit(',').nth(2).unwrap().parse().unwrap();
        if train > 0 {
            seen.insert(class.mid.clone(), train);
        }
    }
    assert_eq!(
        seen, want,
        "the student's training labels are the enhanced list's"
    );
}

#[test]
fn audioset_balanced_chain_with_label_enhancement() {
    let Some(data) = tympan_tests::require_data("audioset_balanced_chain_with_label_enhancement")
    else {
        return;
    };
    let meta = data.join("audioset");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("audioset");
    std::fs::create_dir_all(root.join("datafiles")).unwrap();
    for f in ["ontology.json", "class_labels_indices.csv"] {
        std::fs::copy(meta.join(f), root.join(f)).unwrap();
    }
    // Rows spread over the real lists (so over many classes), each with a real clip.
    let balanced = read_segments(&meta.join("balanced_train_segments.csv")).unwrap();
    let eval = read_segments(&meta.join("eval_segments.csv")).unwrap();
    let clips = us8k_clips(&data);
    let mut next = clips.iter().map(|(p, _)| p.to_string_lossy().into_owned());
    let mut list = |rows: Vec<&Segment>| Datafile {
        data: rows
            .into_iter()
            .map(|r| DatafileEntry {
                wav: next.next().expect("enough clips"),
                labels: r.labels.join(","),
            })
            .collect(),
    };
    let step = balanced.len() / 40;
    let bal = list((0..40).map(|i| &balanced[i * step]).collect());
    let full = list((0..24).map(|i| &balanced[i * step + step / 2]).collect());
    let ev = list((0..8).map(|i| &eval[i * (eval.len() / 8)]).collect());
    let df = |name: &str| root.join("datafiles").join(name);
    bal.save(&df("balanced_train_data.json")).unwrap();
    full.save(&df("full_train_data.json")).unwrap();
    ev.save(&df("eval_data.json")).unwrap();

    // (a) of docs/training.md: the psla-full teacher, scored over the balanced list, then the
    // enhanced list where psla-balanced reads it.
    let teacher = tmp.path().join("teacher");
    train("psla-full", &root, &teacher, &teacher_settings(&data));
    let classes = root.join("class_labels_indices.csv");
    // The run folder keeps the class list its training read: what `evaluate --run` reads the
    // datafile's mids with.
    let kept = std::fs::read(teacher.join("class_labels_indices.csv")).unwrap();
    assert_eq!(kept, std::fs::read(&classes).unwrap());
    let enhanced = enhance(
        &teacher,
        &df("balanced_train_data.json"),
        &root.join("ontology.json"),
        &classes,
        &df("balanced_train_data_type1_2_mean.json"),
    );
    let student = tmp.path().join("student");
    let out = train("psla-balanced", &root, &student, &[]);
    assert!(
        out.contains("clips present: train 40 of 40 listed, eval 8 of 8 listed"),
        "{out}"
    );
    assert_trained_on(&student, &classes, &enhanced);
    let config = std::fs::read_to_string(student.join("config.toml")).unwrap();
    assert!(
        config.contains("balanced_train_data_type1_2_mean.json"),
        "{config}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(student.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["sizes"], serde_json::json!([40, 0, 8]), "{summary}");
}

#[test]
fn fsd50k_chain_from_the_official_layout() {
    let Some(data) = tympan_tests::require_data("fsd50k_chain_from_the_official_layout") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fsd50k");
    let truth = root.join("FSD50K.ground_truth");
    std::fs::create_dir_all(&truth).unwrap();
    // The real 200-class vocabulary (PSLA's class list of FSD50K), as FSD50K ships it:
    // `index,name,mid` without a header.
    let vocab =
        ClassList::load(&data.join("audioset/fsd50k_class_labels_indices_psla.csv")).unwrap();
    let vocabulary: String = vocab
        .classes()
        .iter()
        .map(|c| format!("{},{},{}\n", c.index, c.name, c.mid))
        .collect();
    std::fs::write(truth.join("vocabulary.csv"), vocabulary).unwrap();
    // Labels after the UrbanSound8K class: barks with the whole chain up to Animal or with the
    // leaf alone (candidates for Type II), street music as Music alone or with its child
    // Musical_instrument (candidates for Type I), sirens, drills, engines.
    let labels_of = |class: u32, k: usize| -> Option<&'static [&'static str]> {
        Some(match class {
            3 if k.is_multiple_of(2) => &["Bark", "Dog", "Domestic_animals_and_pets", "Animal"],
            3 => &["Bark"],
            9 if k.is_multiple_of(2) => &["Music"],
            9 => &["Musical_instrument", "Music"],
            8 => &["Siren"],
            4 => &["Drill"],
            5 => &["Engine"],
            _ => return None,
        })
    };
    let row = |fname: usize, names: &[&str]| {
        let mids: Vec<&str> = names
            .iter()
            .map(|n| {
                let class = vocab.classes().iter().find(|c| c.name == *n).unwrap();
                class.mid.as_str()
            })
            .collect();
        format!("{fname},\"{}\",\"{}\"", names.join(","), mids.join(","))
    };
    let (mut dev, mut ev) = (
        String::from("fname,labels,mids,split\n"),
        String::from("fname,labels,mids\n"),
    );
    let mut seen = BTreeMap::<u32, usize>::new();
    for (i, (clip, class)) in us8k_clips(&data).iter().enumerate() {
        let k = *seen.get(class).unwrap_or(&0);
        let Some(names) = labels_of(*class, k) else {
            continue;
        };
        if k >= 8 {
            continue;
        }
        seen.insert(*class, k + 1);
        let fname = 1000 + i;
        let folder = match k {
            0..=5 => {
                let split = if k == 5 { "val" } else { "train" };
                dev.push_str(&format!("{},{split}\n", row(fname, names)));
                "dev"
            }
            _ => {
                ev.push_str(&format!("{}\n", row(fname, names)));
                "eval"
            }
        };
        let to = root.join(format!("FSD50K.{folder}_audio/{fname}.wav"));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(clip, &to).unwrap();
    }
    std::fs::write(truth.join("dev.csv"), dev).unwrap();
    std::fs::write(truth.join("eval.csv"), ev).unwrap();
    // `cargo xtask fsd50k-datafiles` (this library call is all it does besides printing).
    let written = tympan_data::fsd50k::fsd50k_datafiles(&root).unwrap();
    assert!(written.missing.is_empty(), "{:?}", written.missing);
    let (n_train, n_val, n_eval) = (
        written.train.data.len(),
        written.val.data.len(),
        written.eval.data.len(),
    );
    assert_eq!((n_train, n_val, n_eval), (25, 5, 10));
    written.save(&root).unwrap();

    // The teacher: the shipped recipe on the original labels.
    let teacher = tmp.path().join("teacher");
    let mut settings = teacher_settings(&data);
    settings.extend([
        "--set".into(),
        "data.train_json=\"datafiles/fsd50k_tr_full.json\"".into(),
    ]);
    train("psla-fsd50k", &root, &teacher, &settings);
    let classes = root.join("fsd50k_class_labels_indices.csv");
    let enhanced = enhance(
        &teacher,
        &root.join("datafiles/fsd50k_tr_full.json"),
        &data.join("audioset/ontology.json"),
        &classes,
        &root.join("datafiles/fsd50k_tr_full_type1_2_mean.json"),
    );
    // The student: psla-fsd50k as shipped, on the enhanced list, validated on the val list.
    let student = tmp.path().join("student");
    train("psla-fsd50k", &root, &student, &[]);
    assert_trained_on(&student, &classes, &enhanced);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(student.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary["sizes"],
        serde_json::json!([n_train, n_val, n_eval]),
        "{summary}"
    );
}
