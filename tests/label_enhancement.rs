//! PSLA label enhancement (Algorithm 2): a hand-computed case, and Type II against PSLA's own
//! `fix_type2.py` on the real ontology and balanced segment list.

use tympan_data::enhance::{EnhanceType, Threshold, enhance, thresholds};
use tympan_data::{ClassList, Datafile, Ontology};
use tympan_tests::write_toy_audioset;

fn setup(dir: &std::path::Path) -> (Ontology, ClassList, Datafile) {
    let (o, c, d, _) = write_toy_audioset(dir);
    (
        Ontology::load(&o).unwrap(),
        ClassList::load(&c).unwrap(),
        Datafile::load(&d).unwrap(),
    )
}

fn preds() -> Vec<f32> {
    write_toy_audioset(tempfile::tempdir().unwrap().path()).3
}

#[test]
fn thresholds_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let (_, classes, df) = setup(dir.path());
    let p = preds();
    let t = thresholds(&df, &p, &classes, Threshold::Mean).unwrap();
    assert_eq!(t[0], None, "no clip is labelled Animal");
    assert!((t[1].unwrap() - 0.7).abs() < 1e-6); // (0.8 + 0.6) / 2
    assert_eq!(t[2], Some(0.65));
    let p25 = thresholds(&df, &p, &classes, Threshold::Percentile(25.0)).unwrap();
    assert!((p25[1].unwrap() - 0.65).abs() < 1e-6); // numpy.percentile([0.6, 0.8], 25)
    let med = thresholds(&df, &p, &classes, Threshold::Median).unwrap();
    assert!((med[1].unwrap() - 0.7).abs() < 1e-6);
    assert!("p10".parse::<Threshold>().is_ok() && "bogus".parse::<Threshold>().is_err());
}

#[test]
fn type_one_two_and_both_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let (onto, classes, df) = setup(dir.path());
    let p = preds();
    let t = thresholds(&df, &p, &classes, Threshold::Mean).unwrap();
    // Type I: clip 0 (Dog) gains its child Bark (0.70 > 0.65); clip 1's Bark (0.10) does not pass.
    let (d1, r1) = enhance(&df, &p, &classes, &onto, &t, EnhanceType::TypeI).unwrap();
    assert_eq!(d1.data[0].labels, "/d,/b");
    assert_eq!(d1.data[1].labels, "/d");
    assert_eq!((r1.total_added, r1.added_per_class[2]), (1, 1));
    // Type II: clip 2 (Bark) gains its ancestor Dog (0.9 > 0.7); Animal has no threshold.
    let (d2, r2) = enhance(&df, &p, &classes, &onto, &t, EnhanceType::TypeII).unwrap();
    assert_eq!(d2.data[2].labels, "/b,/d");
    assert_eq!(d2.data[0].labels, "/d");
    assert_eq!(r2.total_added, 1);
    // Both: the union.
    let (d3, r3) = enhance(&df, &p, &classes, &onto, &t, EnhanceType::Both).unwrap();
    assert_eq!(
        (d3.data[0].labels.as_str(), d3.data[2].labels.as_str()),
        ("/d,/b", "/b,/d")
    );
    assert_eq!((r3.total_added, r3.clips_changed), (2, 2));
    assert_eq!(d3.data[3].labels, "/m");
}

/// The synthetic teacher of `scripts/generate_reference.py` (`synthetic_teacher`), recomputed
/// with the same integer arithmetic: `[clips, classes]` in [0, 1).
fn synthetic_teacher(n: usize, c: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * c);
    for i in 0..n as i64 {
        for k in 0..c as i64 {
            let v = (i * 7919 + k * 104729 + (i * k) % 65521) % 1000003;
            out.push((v as f64 / 1000003.0) as f32);
        }
    }
    out
}

/// Type II exactly as PSLA's own `fix_type2.py` (run by `scripts/generate_reference.py` on the
/// real `ontology.json` and `balanced_train_segments.csv`, 22,160 clips, a synthetic teacher and
/// PSLA's mean thresholds): the same labels on every clip (exact), and the same thresholds
/// (1e-6 absolute; PSLA computes them in float64).
#[test]
fn type2_matches_psla_fix_type2_on_the_real_balanced_list() {
    let Some(data) = tympan_tests::require_data("type2_matches_psla") else {
        return;
    };
    let fixture = tympan_tests::fixture_json("enhance/psla_type2_balanced.json");
    let onto = Ontology::load(&data.join("audioset/ontology.json")).unwrap();
    let classes = ClassList::load(&data.join("audioset/class_labels_indices.csv")).unwrap();
    let segments =
        tympan_data::read_segments(&data.join("audioset/balanced_train_segments.csv")).unwrap();
    let df = Datafile {
        data: segments
            .iter()
            .map(|s| tympan_data::DatafileEntry {
                wav: format!("{}.wav", s.ytid),
                labels: s.labels.join(","),
            })
            .collect(),
    };
    assert_eq!(df.data.len(), fixture["clips"].as_u64().unwrap() as usize);
    let preds = synthetic_teacher(df.data.len(), classes.len());
    let t = thresholds(&df, &preds, &classes, Threshold::Mean).unwrap();
    for (k, want) in fixture["thresholds"].as_array().unwrap().iter().enumerate() {
        let ours = t[k].expect("every class has a labelled clip in the balanced set") as f64;
        assert!((ours - want.as_f64().unwrap()).abs() < 1e-6, "class {k}");
    }
    let (out, report) = enhance(&df, &preds, &classes, &onto, &t, EnhanceType::TypeII).unwrap();
    let changed = fixture["changed"].as_object().unwrap();
    let mut differ = Vec::new();
    for (i, (before, after)) in df.data.iter().zip(&out.data).enumerate() {
        let mut ours: Vec<&str> = after.label_list().collect();
        ours.sort_unstable();
        let want: Vec<&str> = match changed.get(&i.to_string()) {
            Some(v) => v
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
                .collect(),
            None => {
                let mut v: Vec<&str> = before.label_list().collect();
                v.sort_unstable();
                v.dedup();
                v
            }
        };
        if ours != want {
            differ.push(format!(
                "clip {i} ({}): ours {ours:?}, PSLA {want:?}",
                before.wav
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} clips differ from PSLA's fix_type2.py, e.g. {:?}",
        differ.len(),
        &differ[..differ.len().min(3)]
    );
    assert_eq!(
        report.total_added as u64,
        fixture["added"].as_u64().unwrap()
    );
    assert_eq!(report.clips_changed, changed.len());
}
