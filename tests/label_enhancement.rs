//! PSLA label enhancement (Algorithm 2) on a hand-computed case.

use tympan_data::enhance::{EnhanceType, Threshold, enhance, thresholds};
use tympan_data::{ClassList, Datafile, DatafileEntry, Ontology};

fn setup(dir: &std::path::Path) -> (Ontology, ClassList, Datafile) {
    // Animal (/a) -> Dog (/d) -> Bark (/b); Music (/m) on its own.
    let onto = r#"[
      {"id": "/a", "name": "Animal", "child_ids": ["/d"], "restrictions": ["abstract"]},
      {"id": "/d", "name": "Dog", "child_ids": ["/b"], "restrictions": []},
      {"id": "/b", "name": "Bark", "child_ids": [], "restrictions": []},
      {"id": "/m", "name": "Music", "child_ids": [], "restrictions": []}
    ]"#;
    std::fs::write(dir.join("o.json"), onto).unwrap();
    std::fs::write(
        dir.join("c.csv"),
        "index,mid,display_name\n0,/a,Animal\n1,/d,Dog\n2,/b,Bark\n3,/m,Music\n",
    )
    .unwrap();
    let e = |w: &str, l: &str| DatafileEntry {
        wav: w.into(),
        labels: l.into(),
    };
    let df = Datafile {
        data: vec![
            e("0.wav", "/d"),
            e("1.wav", "/d"),
            e("2.wav", "/b"),
            e("3.wav", "/m"),
        ],
    };
    (
        Ontology::load(&dir.join("o.json")).unwrap(),
        ClassList::load(&dir.join("c.csv")).unwrap(),
        df,
    )
}

#[rustfmt::skip]
const PREDS: [f32; 16] = [
    0.9, 0.8, 0.70, 0.1, // clip 0: Dog; Bark scores 0.70
    0.2, 0.6, 0.10, 0.1, // clip 1: Dog
    0.5, 0.9, 0.65, 0.0, // clip 2: Bark; Dog scores 0.9
    0.1, 0.1, 0.10, 0.7, // clip 3: Music
];

#[test]
fn thresholds_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let (_, classes, df) = setup(dir.path());
    let t = thresholds(&df, &PREDS, &classes, Threshold::Mean).unwrap();
    assert_eq!(t[0], None, "no clip is labelled Animal");
    assert!((t[1].unwrap() - 0.7).abs() < 1e-6); // (0.8 + 0.6) / 2
    assert_eq!(t[2], Some(0.65));
    let p25 = thresholds(&df, &PREDS, &classes, Threshold::Percentile(25.0)).unwrap();
    assert!((p25[1].unwrap() - 0.65).abs() < 1e-6); // numpy.percentile([0.6, 0.8], 25)
    let med = thresholds(&df, &PREDS, &classes, Threshold::Median).unwrap();
    assert!((med[1].unwrap() - 0.7).abs() < 1e-6);
    assert!("p10".parse::<Threshold>().is_ok() && "bogus".parse::<Threshold>().is_err());
}

#[test]
fn type_one_two_and_both_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let (onto, classes, df) = setup(dir.path());
    let t = thresholds(&df, &PREDS, &classes, Threshold::Mean).unwrap();
    // Type I: clip 0 (Dog) gains its child Bark (0.70 > 0.65); clip 1's Bark (0.10) does not pass.
    let (d1, r1) = enhance(&df, &PREDS, &classes, &onto, &t, EnhanceType::TypeI).unwrap();
    assert_eq!(d1.data[0].labels, "/d,/b");
    assert_eq!(d1.data[1].labels, "/d");
    assert_eq!((r1.total_added, r1.added_per_class[2]), (1, 1));
    // Type II: clip 2 (Bark) gains its ancestor Dog (0.9 > 0.7); Animal has no threshold.
    let (d2, r2) = enhance(&df, &PREDS, &classes, &onto, &t, EnhanceType::TypeII).unwrap();
    assert_eq!(d2.data[2].labels, "/b,/d");
    assert_eq!(d2.data[0].labels, "/d");
    assert_eq!(r2.total_added, 1);
    // Both: the union.
    let (d3, r3) = enhance(&df, &PREDS, &classes, &onto, &t, EnhanceType::Both).unwrap();
    assert_eq!(
        (d3.data[0].labels.as_str(), d3.data[2].labels.as_str()),
        ("/d,/b", "/b,/d")
    );
    assert_eq!((r3.total_added, r3.clips_changed), (2, 2));
    assert_eq!(d3.data[3].labels, "/m");
}
