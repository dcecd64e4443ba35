//! SVG plots of an experiment folder: training curves (`curves.svg`) and the sorted per-class AP
//! (`per_class_ap.svg`, as PSLA Fig. 6). Plain SVG text, readable in any browser; no plotting
//! dependency.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::TrainError;
use crate::report::{EpochRow, write_atomic};

/// Writes `curves.svg` and `per_class_ap.svg` into a run folder (each atomically, as every file
/// a resume touches).
pub(crate) fn write_plots(
    out_dir: &Path,
    history: &[EpochRow],
    per_class_ap: &[(String, Option<f64>)],
) -> Result<(), TrainError> {
    write_atomic(&out_dir.join("curves.svg"), curves_svg(history).as_bytes())?;
    write_atomic(
        &out_dir.join("per_class_ap.svg"),
        per_class_ap_svg(per_class_ap).as_bytes(),
    )
}

const W: f64 = 640.0;
const H: f64 = 360.0;
const L: f64 = 60.0;
const R: f64 = 20.0;
const T: f64 = 30.0;
const B: f64 = 45.0;

struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    points: Vec<(f64, f64)>,
}

fn frame(title: &str, x_label: &str, y_label: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{cx}" y="18" text-anchor="middle" font-size="14">{title}</text>
<text x="{cx}" y="{xl}" text-anchor="middle">{x_label}</text>
<text x="14" y="{cy}" text-anchor="middle" transform="rotate(-90 14 {cy})">{y_label}</text>
<line x1="{L}" y1="{yb}" x2="{xr}" y2="{yb}" stroke="black"/>
<line x1="{L}" y1="{T}" x2="{L}" y2="{yb}" stroke="black"/>
"#,
        cx = (L + W - R) / 2.0,
        cy = (T + H - B) / 2.0,
        xl = H - 8.0,
        yb = H - B,
        xr = W - R,
    );
    s
}

fn px(x: f64, x0: f64, x1: f64) -> f64 {
    L + (x - x0) / (x1 - x0).max(1e-12) * (W - L - R)
}

fn py(y: f64, y0: f64, y1: f64) -> f64 {
    (H - B) - (y - y0) / (y1 - y0).max(1e-12) * (H - B - T)
}

fn y_ticks(s: &mut String, y0: f64, y1: f64) {
    for k in 0..=4 {
        let v = y0 + (y1 - y0) * k as f64 / 4.0;
        let y = py(v, y0, y1);
        let _ = writeln!(
            s,
            r##"<line x1="{a}" y1="{y}" x2="{L}" y2="{y}" stroke="black"/><text x="{t}" y="{ty}" text-anchor="end">{v:.3}</text><line x1="{L}" y1="{y}" x2="{r}" y2="{y}" stroke="#ddd"/>"##,
            a = L - 4.0,
            t = L - 6.0,
            ty = y + 4.0,
            r = W - R,
        );
    }
}

fn line_plot(title: &str, y_label: &str, series: &[Series<'_>], epochs: usize) -> String {
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite());
    let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    let (x0, x1) = (1.0, (epochs.max(2)) as f64);
    let mut s = frame(title, "epoch", y_label);
    y_ticks(&mut s, y0, y1);
    for e in 1..=epochs {
        let x = px(e as f64, x0, x1);
        let _ = writeln!(
            s,
            r#"<text x="{x}" y="{y}" text-anchor="middle">{e}</text>"#,
            y = H - B + 16.0
        );
    }
    for (i, se) in series.iter().enumerate() {
        let pts: Vec<String> = se
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x, x0, x1), py(y, y0, y1)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{p}"/>"#,
            c = se.colour,
            p = pts.join(" ")
        );
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                s,
                r#"<circle cx="{x}" cy="{y}" r="3" fill="{c}"/>"#,
                c = se.colour
            );
        }
        let ly = T + 14.0 * i as f64 + 6.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{ry}" width="12" height="3" fill="{c}"/><text x="{tx}" y="{ty}">{n}</text>"#,
            lx = W - R - 150.0,
            ry = ly - 4.0,
            c = se.colour,
            tx = W - R - 132.0,
            ty = ly,
            n = se.name
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Training curves: the loss, and the validation mAP, the test mAP, accuracy and
/// checkpoint-ensemble mAP per epoch, in one SVG (two panels stacked).
pub fn curves_svg(history: &[EpochRow]) -> String {
    let n = history.len();
    let pts = |f: fn(&EpochRow) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|r| (r.epoch as f64, f(r))).collect()
    };
    let loss = line_plot(
        "training loss",
        "loss",
        &[Series {
            name: "train loss",
            colour: "#d62728",
            points: pts(|r| r.loss),
        }],
        n,
    );
    let metrics = line_plot(
        "evaluation",
        "score",
        &[
            Series {
                name: "validation mAP",
                colour: "#9467bd",
                points: pts(|r| r.valid.map),
            },
            Series {
                name: "test mAP",
                colour: "#1f77b4",
                points: pts(|r| r.scores.map),
            },
            Series {
                name: "test accuracy",
                colour: "#2ca02c",
                points: pts(|r| r.scores.accuracy),
            },
            Series {
                name: "test ensemble mAP",
                colour: "#ff7f0e",
                points: pts(|r| r.ensemble_map),
            },
        ],
        n,
    );
    // Stack the two panels in one document.
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h2}">
<g>{a}</g><g transform="translate(0 {H})">{b}</g></svg>
"#,
        h2 = 2.0 * H,
        a = loss,
        b = metrics
    )
}

/// Per-class AP sorted in descending order, one bar per class (PSLA Fig. 6). Classes without a
/// positive clip in the evaluation set are left out.
pub fn per_class_ap_svg(per_class: &[(String, Option<f64>)]) -> String {
    let mut aps: Vec<f64> = per_class.iter().filter_map(|(_, a)| *a).collect();
    aps.sort_by(|a, b| b.total_cmp(a));
    let mut s = frame(
        &format!("per-class AP, sorted ({} classes)", aps.len()),
        "class rank",
        "AP",
    );
    y_ticks(&mut s, 0.0, 1.0);
    let n = aps.len().max(1) as f64;
    let bw = (W - L - R) / n;
    for (i, ap) in aps.iter().enumerate() {
        let x = L + i as f64 * bw;
        let y = py(*ap, 0.0, 1.0);
        let _ = writeln!(
            s,
            r##"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="#1f77b4"/>"##,
            w = (bw * 0.9).max(0.5),
            h = (H - B) - y
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, map: f64) -> EpochRow {
        let scores = crate::report::Scores {
            map,
            auc: 0.9,
            d_prime: 2.0,
            accuracy: map,
            map_at_3: map,
        };
        EpochRow {
            epoch,
            loss: 1.0 / epoch as f64,
            lr: 1e-3,
            valid: scores,
            scores,
            ensemble_map: map,
            seconds: 1.0,
        }
    }

    #[test]
    fn svgs_are_well_formed_and_carry_every_point() {
        let h = vec![row(1, 0.5), row(2, 0.7), row(3, f64::NAN)];
        let s = curves_svg(&h);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        // 3 loss points + 2 finite points for each of 4 metric series.
        assert_eq!(s.matches("<circle").count(), 3 + 4 * 2);
        let ap = per_class_ap_svg(&[
            ("a".into(), Some(0.2)),
            ("b".into(), None),
            ("c".into(), Some(0.9)),
        ]);
        assert_eq!(ap.matches("<rect x=").count(), 2);
        assert!(ap.contains("2 classes"));
    }
}
