//! Metrics against scikit-learn and scipy (fixture by `scripts/generate_reference.py`): a 400x12
//! matrix with heavily tied scores, a class without positives and one without negatives.
//! Tolerance 1e-12 absolute; the curves' thresholds (the scores themselves) exactly.

use tympan_metrics::{
    Matrix, average_precision, evaluate, map_at_k, normal_ppf, precision_recall_curve, roc_auc,
    roc_curve,
};
use tympan_tests::fixture_json;

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-12, "{what}: {a} vs sklearn {b}");
}

/// The fixture, its scores and targets, and their shape.
fn fixture() -> (serde_json::Value, Vec<f32>, Vec<f32>, usize, usize) {
    let f = fixture_json("metrics.json");
    let (rows, cols) = (
        f["rows"].as_u64().unwrap() as usize,
        f["cols"].as_u64().unwrap() as usize,
    );
    let (scores, targets) = (floats(&f["scores"]), floats(&f["targets"]));
    (f, scores, targets, rows, cols)
}

#[test]
fn metrics_match_sklearn() {
    let (f, scores, targets, rows, cols) = fixture();
    let s = Matrix::new(&scores, rows, cols).unwrap();
    let t = Matrix::new(&targets, rows, cols).unwrap();
    let report = evaluate(s, t).unwrap();
    for c in 0..cols {
        match f["ap"][c].as_f64() {
            Some(want) => {
                close(
                    report.classes[c].ap.unwrap(),
                    want,
                    &format!("AP class {c}"),
                );
                close(
                    average_precision(&s.column(c), &t.column(c)).unwrap(),
                    want,
                    "AP",
                );
            }
            None => assert!(report.classes[c].ap.is_none() && report.excluded_ap.contains(&c)),
        }
        match f["auc"][c].as_f64() {
            Some(want) => {
                close(
                    report.classes[c].auc.unwrap(),
                    want,
                    &format!("AUC class {c}"),
                );
                close(roc_auc(&s.column(c), &t.column(c)).unwrap(), want, "AUC");
            }
            None => assert!(report.classes[c].auc.is_none() && report.excluded_auc.contains(&c)),
        }
    }
    assert_eq!(report.excluded_ap, vec![3]);
    assert_eq!(report.excluded_auc, vec![3, 8]);
    close(report.map.unwrap(), f["map"].as_f64().unwrap(), "mAP");
    close(
        report.mean_auc.unwrap(),
        f["mean_auc"].as_f64().unwrap(),
        "mean AUC",
    );
    close(
        report.d_prime.unwrap(),
        f["d_prime"].as_f64().unwrap(),
        "d-prime",
    );
    let labels: Vec<usize> = f["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    close(
        map_at_k(s, &labels, 3).unwrap(),
        f["map_at_3"].as_f64().unwrap(),
        "MAP@3",
    );
    for pair in f["ppf"].as_array().unwrap() {
        let (p, want) = (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap());
        let got = normal_ppf(p);
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "ppf({p}) = {got}, scipy {want}"
        );
    }
}

fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn all_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} points, sklearn {}",
        got.len(),
        want.len()
    );
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        close(g, w, &format!("{what}[{i}]"));
    }
}

/// `precision_recall_curve` and `roc_curve` (drop_intermediate) point for point, for four classes
/// of the tied matrix: what PSLA's stats pickle samples.
#[test]
fn curves_match_sklearn() {
    let (f, scores, targets, rows, cols) = fixture();
    let (s, t) = (
        Matrix::new(&scores, rows, cols).unwrap(),
        Matrix::new(&targets, rows, cols).unwrap(),
    );
    let curves = f["curves"].as_array().unwrap();
    assert_eq!(curves.len(), 4);
    for c in curves {
        let k = c["cls"].as_u64().unwrap() as usize;
        let pr = precision_recall_curve(&s.column(k), &t.column(k)).unwrap();
        all_close(
            &pr.precision,
            &f64s(&c["precision"]),
            &format!("class {k} precision"),
        );
        all_close(
            &pr.recall,
            &f64s(&c["recall"]),
            &format!("class {k} recall"),
        );
        let pt: Vec<f64> = pr.thresholds.iter().map(|&x| f64::from(x)).collect();
        assert_eq!(pt, f64s(&c["pr_thresholds"]), "class {k} PR thresholds");
        let roc = roc_curve(&s.column(k), &t.column(k)).unwrap();
        all_close(&roc.fpr, &f64s(&c["fpr"]), &format!("class {k} fpr"));
        all_close(&roc.tpr, &f64s(&c["tpr"]), &format!("class {k} tpr"));
        assert_eq!(c["roc_first_threshold"], "inf");
        assert_eq!(roc.thresholds[0], f64::INFINITY);
        assert_eq!(
            &roc.thresholds[1..],
            &f64s(&c["roc_thresholds"])[..],
            "class {k} ROC thresholds"
        );
    }
}
