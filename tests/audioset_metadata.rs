//! AudioSet metadata on the real files in `../shared/data/audioset`.

use tympan_data::{
    ClassList, DataError, Datafile, DatafileEntry, Ontology, build_datafile, psla_sample_weights,
    read_segments,
};
use tympan_tests::require_data;

#[test]
fn ontology_and_class_list() {
    let Some(data) = require_data("ontology_and_class_list") else {
        return;
    };
    let dir = data.join("audioset");
    let onto = Ontology::load(&dir.join("ontology.json")).unwrap();
    assert_eq!(onto.len(), 632);
    let classes = ClassList::load(&dir.join("class_labels_indices.csv")).unwrap();
    assert_eq!(classes.len(), 527);
    for c in classes.classes() {
        let node = onto
            .node(&c.mid)
            .unwrap_or_else(|| panic!("class {} ({}) not in the ontology", c.mid, c.name));
        assert_eq!(node.name, c.name, "{}", c.mid);
    }
    // Real-data fact: a few released classes carry the "blacklist" restriction in the ontology
    // (e.g. "Heart murmur"); they are still among the 527.
    assert!(onto.node("/m/01jg1z").unwrap().is_blacklisted());
    assert_eq!(classes.index_of("/m/01jg1z"), Some(65));
    assert_eq!(classes.classes()[1].name, "Male speech, man speaking");
    assert_eq!(onto.name("/m/05tny_"), Some("Bark"));
    assert_eq!(onto.parents("/m/05tny_"), vec!["/m/0bt9lr"]);
    let anc = onto.ancestors("/m/05tny_");
    for want in ["/m/0bt9lr", "/m/068hy", "/m/0jbk"] {
        assert!(
            anc.contains(&want),
            "{want} missing from Bark's ancestors {anc:?}"
        );
    }
    assert!(onto.descendants("/m/0jbk").contains(&"/m/05tny_"));
    assert!(onto.children("/m/0bt9lr").contains(&"/m/05tny_"));
    assert_eq!(onto.roots().len(), 7, "AudioSet has 7 top-level categories");
    assert!(onto.node("/m/0jbk").unwrap().child_ids.len() >= 3);
}

#[test]
fn segment_lists() {
    let Some(data) = require_data("segment_lists") else {
        return;
    };
    let dir = data.join("audioset");
    let classes = ClassList::load(&dir.join("class_labels_indices.csv")).unwrap();
    let bal = read_segments(&dir.join("balanced_train_segments.csv")).unwrap();
    assert_eq!(bal.len(), 22_160);
    assert_eq!(bal[0].ytid, "--PJHxphWEs");
    assert_eq!(bal[0].labels, vec!["/m/09x0r", "/t/dd00088"]);
    assert_eq!((bal[0].start, bal[0].end), (30.0, 40.0));
    let eval = read_segments(&dir.join("eval_segments.csv")).unwrap();
    assert_eq!(eval.len(), 20_371);
    // Every label resolves; the header says 52,882 positive labels in the balanced list.
    let n: usize = bal.iter().map(|s| s.labels.len()).sum();
    assert_eq!(n, 52_882);
    for s in bal.iter().chain(&eval) {
        classes
            .multi_hot(s.labels.iter().map(String::as_str))
            .unwrap();
    }
}

#[test]
fn malformed_files_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("segs.csv");
    std::fs::write(
        &seg,
        "# header\nabc, 0.0, 10.0, \"/m/a\"\nxyz, zero, 10.0, \"/m/a\"\n",
    )
    .unwrap();
    let err = read_segments(&seg).unwrap_err();
    assert!(matches!(err, DataError::Line { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("segs.csv:3"), "{err}");
    let classes = dir.path().join("classes.csv");
    std::fs::write(
        &classes,
        "index,mid,display_name\n0,/m/a,\"A\"\n2,/m/b,\"B\"\n",
    )
    .unwrap();
    assert!(
        ClassList::load(&classes)
            .unwrap_err()
            .to_string()
            .contains("classes.csv:3")
    );
    let df = dir.path().join("d.json");
    std::fs::write(
        &df,
        "{\"data\": [\n {\"wav\": \"a.wav\", \"labels\": \"/m/a\"},\n {\"wav\": 3}\n]}",
    )
    .unwrap();
    let err = Datafile::load(&df).unwrap_err();
    assert!(matches!(err, DataError::Json { line: 3, .. }), "{err}");
}

#[test]
fn datafile_round_trip_and_psla_weights() {
    let dir = tempfile::tempdir().unwrap();
    let classes_path = dir.path().join("classes.csv");
    std::fs::write(
        &classes_path,
        "index,mid,display_name\n0,/m/a,\"A\"\n1,/m/b,\"B, with comma\"\n2,/m/c,\"C\"\n",
    )
    .unwrap();
    let classes = ClassList::load(&classes_path).unwrap();
    let entry = |wav: &str, labels: &str| DatafileEntry {
        wav: wav.into(),
        labels: labels.into(),
    };
    let df = Datafile {
        data: vec![
            entry("1.wav", "/m/a"),
            entry("2.wav", "/m/a,/m/b"),
            entry("3.wav", "/m/a,/m/c"),
        ],
    };
    let path = dir.path().join("train.json");
    df.save(&path).unwrap();
    assert_eq!(Datafile::load(&path).unwrap(), df);
    // Hand computation: c_a = 3, c_b = 1, c_c = 1.
    let w = psla_sample_weights(&df, &classes).unwrap();
    let (wa, wb) = (1000.0 / 3.01, 1000.0 / 1.01);
    let want = [wa, wa + wb, wa + wb];
    for (g, e) in w.iter().zip(want) {
        assert!((g - e).abs() < 1e-9, "{g} vs {e}");
    }
    assert!(
        psla_sample_weights(
            &Datafile {
                data: vec![entry("x.wav", "/m/zzz")]
            },
            &classes
        )
        .is_err()
    );
}

#[test]
fn datafile_builder_reports_missing_clips() {
    let Some(data) = require_data("datafile_builder_reports_missing_clips") else {
        return;
    };
    let segs = read_segments(&data.join("audioset/balanced_train_segments.csv")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Three of the first five segments "downloaded", under the three supported namings.
    let names = [
        format!("{}.flac", segs[0].ytid),
        format!("Y{}.wav", segs[2].ytid),
        format!("{}_30000.wav", segs[4].ytid),
    ];
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    for (i, n) in names.iter().enumerate() {
        let p = if i == 1 {
            dir.path().join("sub").join(n)
        } else {
            dir.path().join(n)
        };
        std::fs::write(p, "").unwrap();
    }
    std::fs::write(
        dir.path().join(format!("{}.txt", segs[1].ytid)),
        "not audio",
    )
    .unwrap();
    let built = build_datafile(&segs[..5], dir.path()).unwrap();
    assert_eq!(built.datafile.data.len(), 3);
    assert_eq!(
        built
            .missing
            .iter()
            .map(|s| s.ytid.as_str())
            .collect::<Vec<_>>(),
        vec![segs[1].ytid.as_str(), segs[3].ytid.as_str()]
    );
    assert_eq!(built.datafile.data[0].labels, segs[0].labels.join(","));
    assert!(built.datafile.data[1].wav.ends_with(&names[1]));
}

/// PSLA Algorithm 1 against PSLA's own `src/gen_weight_file.py` on the whole real balanced
/// segment list (fixture by `scripts/generate_reference.py --only sampling`), relative 1e-6
/// (the fixture is read as f32).
#[test]
fn psla_weights_match_gen_weight_file() {
    let Some(data) = require_data("psla_weights_match_gen_weight_file") else {
        return;
    };
    let dir = data.join("audioset");
    let classes = ClassList::load(&dir.join("class_labels_indices.csv")).unwrap();
    let segments = read_segments(&dir.join("balanced_train_segments.csv")).unwrap();
    let df = Datafile {
        data: segments
            .iter()
            .map(|s| DatafileEntry {
                wav: format!("{}.wav", s.ytid),
                labels: s.labels.join(","),
            })
            .collect(),
    };
    let ours = psla_sample_weights(&df, &classes).unwrap();
    let want = tympan_audio::npy::read(
        &tympan_tests::fixtures().join("sampling/psla_balanced_train_weights.npy"),
    )
    .unwrap();
    assert_eq!(ours.len(), want.data.len());
    for (i, (a, b)) in ours.iter().zip(&want.data).enumerate() {
        assert!(((a - *b as f64) / a).abs() < 1e-6, "clip {i}: {a} vs {b}");
    }
}

/// PSLA's datafile names for the Google lists, and the full list as balanced + unbalanced with
/// each clip once (first occurrence kept, order preserved).
#[test]
fn datafile_names_and_full_list_merge() {
    use tympan_data::audioset::datafile_name;
    for (list, name) in [
        ("balanced_train_segments.csv", "balanced_train_data.json"),
        (
            "unbalanced_train_segments.csv",
            "unbalanced_train_data.json",
        ),
        ("eval_segments.csv", "eval_data.json"),
        ("my_list.csv", "my_list_data.json"),
    ] {
        assert_eq!(datafile_name(std::path::Path::new(list)), name);
    }
    let e = |w: &str, l: &str| DatafileEntry {
        wav: w.into(),
        labels: l.into(),
    };
    let balanced = tympan_data::Datafile {
        data: vec![e("a.flac", "/m/1"), e("b.flac", "/m/2")],
    };
    let unbalanced = tympan_data::Datafile {
        data: vec![
            e("c.flac", "/m/3"),
            e("a.flac", "/m/1"),
            e("d.flac", "/m/1"),
        ],
    };
    let (full, dropped) = tympan_data::Datafile::merge(&[&balanced, &unbalanced]);
    assert_eq!(dropped, 1);
    let wavs: Vec<&str> = full.data.iter().map(|x| x.wav.as_str()).collect();
    assert_eq!(wavs, ["a.flac", "b.flac", "c.flac", "d.flac"]);
}
