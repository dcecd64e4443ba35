//! Metrics against scikit-learn and scipy (fixture by `scripts/generate_reference.py`): a 400x12
//! matrix with heavily tied scores, a class without positives and one without negatives.
//! Tolerance 1e-12 absolute.

use tympan_metrics::{Matrix, average_precision, evaluate, map_at_k, normal_ppf, roc_auc};
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

#[test]
fn metrics_match_sklearn() {
    let f = fixture_json("metrics.json");
    let (rows, cols) = (
        f["rows"].as_u64().unwrap() as usize,
        f["cols"].as_u64().unwrap() as usize,
    );
    let scores = floats(&f["scores"]);
    let targets = floats(&f["targets"]);
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
