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
/// The legend column right of a line plot: outside the axes, where no curve runs.
const LEGEND: f64 = 150.0;

struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    points: Vec<(f64, f64)>,
}

/// The axes, title and labels of one panel, `width x height` (the plot area is always the
/// `W x H` panel's; extra width or height holds a legend or class names).
fn frame(title: &str, x_label: &str, y_label: &str, (width, height): (f64, f64)) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{cx}" y="18" text-anchor="middle" font-size="14">{title}</text>
<text x="{cx}" y="{xl}" text-anchor="middle">{x_label}</text>
<text x="14" y="{cy}" text-anchor="middle" transform="rotate(-90 14 {cy})">{y_label}</text>
<line x1="{L}" y1="{yb}" x2="{xr}" y2="{yb}" stroke="black"/>
<line x1="{L}" y1="{T}" x2="{L}" y2="{yb}" stroke="black"/>
"#,
        cx = (L + W - R) / 2.0,
        cy = (T + H - B) / 2.0,
        xl = height - 8.0,
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

/// A tick step of 1, 2 or 5 x 10^k giving 3 to 6 ticks over `span`.
fn tick_step(span: f64) -> f64 {
    let raw = (span / 5.0).max(1e-12);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&st| st >= raw)
        .unwrap_or(10.0 * p)
}

/// The axis range `[y0, y1]` widened to whole ticks, and the tick step.
fn nice_range(y0: f64, y1: f64) -> (f64, f64, f64) {
    let step = tick_step(y1 - y0);
    ((y0 / step).floor() * step, (y1 / step).ceil() * step, step)
}

/// Gridlines and labels at round values (`step` apart) over `[y0, y1]`, with as many decimals
/// as the step needs.
fn y_ticks(s: &mut String, y0: f64, y1: f64, step: f64) {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let n = ((y1 - y0) / step).round() as usize;
    for k in 0..=n {
        let v = y0 + step * k as f64;
        let y = py(v, y0, y1);
        let _ = writeln!(
            s,
            r##"<line x1="{a}" y1="{y}" x2="{L}" y2="{y}" stroke="black"/><text x="{t}" y="{ty}" text-anchor="end">{v:.decimals$}</text><line x1="{L}" y1="{y}" x2="{r}" y2="{y}" stroke="#ddd"/>"##,
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
    let (y0, y1, step) = nice_range(y0, y1);
    let (x0, x1) = (1.0, (epochs.max(2)) as f64);
    let mut s = frame(title, "epoch", y_label, (W + LEGEND, H));
    y_ticks(&mut s, y0, y1, step);
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
        // The legend sits right of the axes, where no curve runs.
        let ly = T + 16.0 * i as f64 + 10.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{ry}" width="12" height="3" fill="{c}"/><text x="{tx}" y="{ty}">{n}</text>"#,
            lx = W - R + 12.0,
            ry = ly - 4.0,
            c = se.colour,
            tx = W - R + 30.0,
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
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h2}">
<g>{a}</g><g transform="translate(0 {H})">{b}</g></svg>
"#,
        w = W + LEGEND,
        h2 = 2.0 * H,
        a = loss,
        b = metrics
    )
}

/// Per-class AP sorted in descending order, one bar per class (PSLA Fig. 6), named under the
/// axis (every class up to 60; beyond, every k-th so that about 40 names show). Classes without
/// a positive clip in the evaluation set are left out.
pub fn per_class_ap_svg(per_class: &[(String, Option<f64>)]) -> String {
    let mut aps: Vec<(&str, f64)> = per_class
        .iter()
        .filter_map(|(n, a)| a.map(|a| (n.as_str(), a)))
        .collect();
    aps.sort_by(|a, b| b.1.total_cmp(&a.1));
    // Room under the axis for the rotated names (10 px text at 60 degrees).
    let longest = aps.iter().map(|(n, _)| n.chars().count().min(24)).max();
    let names = 12.0 + 5.2 * longest.unwrap_or(1) as f64;
    let mut s = frame(
        &format!("per-class AP, sorted ({} classes)", aps.len()),
        "class, best first",
        "AP",
        (W, H + names),
    );
    y_ticks(&mut s, 0.0, 1.0, 0.2);
    let n = aps.len().max(1) as f64;
    let bw = (W - L - R) / n;
    let every = if aps.len() <= 60 {
        1
    } else {
        aps.len().div_ceil(40)
    };
    for (i, (name, ap)) in aps.iter().enumerate() {
        let x = L + i as f64 * bw;
        let y = py(*ap, 0.0, 1.0);
        let _ = writeln!(
            s,
            r##"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="#1f77b4"><title>{t} {ap:.3}</title></rect>"##,
            w = (bw * 0.9).max(0.5),
            h = (H - B) - y,
            t = escape(name),
        );
        if i % every == 0 {
            let (cx, ty) = (x + bw * 0.45, H - B + 10.0);
            let label: String = name.chars().take(24).collect();
            let _ = writeln!(
                s,
                r#"<text x="{cx:.1}" y="{ty:.1}" font-size="10" text-anchor="end" transform="rotate(-60 {cx:.1} {ty:.1})">{}</text>"#,
                escape(&label)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
        // Names under the bars, best first.
        let (c, a) = (ap.find(">c</text>").unwrap(), ap.find(">a</text>").unwrap());
        assert!(c < a);
        // Ticks at round values, and the legend right of the axes.
        assert!(
            s.contains(">0.5</text>") || s.contains(">0.50</text>"),
            "round ticks"
        );
        assert!(s.contains(&format!(r#"<rect x="{}""#, W - R + 12.0)));
        assert_eq!(tick_step(0.861), 0.2);
        assert_eq!(nice_range(0.132, 0.993), (0.0, 1.0, 0.2));
    }
}
