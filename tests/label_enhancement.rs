//! PSLA label enhancement (Algorithm 2) on a hand-computed case.

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
