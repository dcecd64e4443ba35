//! `tympan tag --timeline`: the top classes of one file over time, as an SVG figure in the manner
//! of Hershey et al. Fig. 2 and the sound-event plots PANNs users share. One row per class,
//! labelled with its name; time in seconds on the x axis; a colour scale; the file as title.
//! SVG because its text is native (names and ticks stay sharp) and the training plots are SVG too.

use std::fmt::Write as _;

/// What the figure shows.
pub struct Timeline<'a> {
    /// Title (the file name).
    pub title: &'a str,
    /// Row names, top to bottom.
    pub classes: Vec<&'a str>,
    /// `scores[row][window]`, probabilities in `[0, 1]`.
    pub scores: Vec<Vec<f32>>,
    /// Seconds between window starts.
    pub hop_s: f64,
    /// Seconds one window covers.
    pub window_s: f64,
}

const ROW: f64 = 22.0;
const TOP: f64 = 40.0;
const RIGHT: f64 = 90.0;
const BOTTOM: f64 = 46.0;
const PLOT_W: f64 = 640.0;

/// White (0) to dark blue (1), the same ramp as the colour bar.
fn colour(v: f32) -> String {
    let v = f64::from(v.clamp(0.0, 1.0));
    let c = |k: f64| (255.0 * (1.0 - k * v)).round() as u8;
    format!("#{:02x}{:02x}{:02x}", c(0.9), c(0.7), c(0.3))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A tick step of 1, 2 or 5 x 10^k giving at most about eight ticks over `span` seconds.
fn tick_step(span: f64) -> f64 {
    let raw = (span / 8.0).max(1e-3);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

impl Timeline<'_> {
    /// The time span of window `i`'s cell: between the midpoints of its centre and its
    /// neighbours' (window starts plus half a window), so that a window's score is drawn where
    /// the middle of what it heard lies; the first cell starts at 0, the last ends at `span`.
    /// (Cells from each window's start drew events up to a window early.)
    fn cell(&self, i: usize, windows: usize, span: f64) -> (f64, f64) {
        let centre = |k: usize| k as f64 * self.hop_s + self.window_s / 2.0;
        let t0 = if i == 0 {
            0.0
        } else {
            (centre(i - 1) + centre(i)) / 2.0
        };
        let t1 = if i + 1 >= windows {
            span
        } else {
            (centre(i) + centre(i + 1)) / 2.0
        };
        (t0.min(span), t1.min(span))
    }

    /// The SVG document.
    pub fn svg(&self) -> String {
        let windows = self.scores.first().map_or(0, Vec::len);
        let longest = self.classes.iter().map(|c| c.chars().count()).max();
        let left = 24.0 + 7.2 * longest.unwrap_or(4).min(40) as f64;
        let rows = self.classes.len() as f64;
        let (w, h) = (left + PLOT_W + RIGHT, TOP + rows * ROW + BOTTOM);
        let span = ((windows.max(1) - 1) as f64 * self.hop_s + self.window_s).max(1e-3);
        let x_of = |t: f64| left + PLOT_W * (t / span).min(1.0);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" font-family="sans-serif" font-size="12" shape-rendering="crispEdges">
<rect width="100%" height="100%" fill="white"/>
<text x="{cx:.1}" y="22" text-anchor="middle" font-size="14">{title}</text>"#,
            cx = left + PLOT_W / 2.0,
            title = escape(self.title),
        );
        for (r, (name, row)) in self.classes.iter().zip(&self.scores).enumerate() {
            let y = TOP + r as f64 * ROW;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 6.0,
                y + ROW * 0.68,
                escape(name)
            );
            for (i, &v) in row.iter().enumerate() {
                let (t0, t1) = self.cell(i, windows, span);
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.2}" y="{y:.1}" width="{:.2}" height="{ROW}" fill="{}"><title>{} {t0:.2}-{t1:.2} s: {v:.3}</title></rect>"#,
                    x_of(t0),
                    (x_of(t1) - x_of(t0)).max(0.5),
                    colour(v),
                    escape(name)
                );
            }
        }
        let base = TOP + rows * ROW;
        let _ = writeln!(
            s,
            r#"<rect x="{left:.1}" y="{TOP}" width="{PLOT_W}" height="{:.1}" fill="none" stroke="black"/>"#,
            rows * ROW
        );
        let step = tick_step(span);
        let mut t = 0.0;
        while t <= span + 1e-9 {
            let x = x_of(t);
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{base:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                base + 5.0,
                base + 18.0,
                trim_number(t)
            );
            t += step;
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>"#,
            left + PLOT_W / 2.0,
            base + 36.0
        );
        // Colour scale: 0 at the bottom, 1 at the top.
        let (bx, bh) = (left + PLOT_W + 24.0, rows * ROW);
        let steps = 20;
        for k in 0..steps {
            let v = (k as f32 + 0.5) / steps as f32;
            let y = TOP + bh * (1.0 - (k + 1) as f64 / steps as f64);
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{y:.2}" width="14" height="{:.2}" fill="{}"/>"#,
                bh / steps as f64 + 0.3,
                colour(v)
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{bx:.1}" y="{TOP}" width="14" height="{bh:.1}" fill="none" stroke="black"/>
<text x="{tx:.1}" y="{t1:.1}">1.0</text><text x="{tx:.1}" y="{tm:.1}">0.5</text><text x="{tx:.1}" y="{t0:.1}">0.0</text>
<text x="{sx:.1}" y="{sy:.1}" text-anchor="middle" transform="rotate(-90 {sx:.1} {sy:.1})">score</text>
</svg>"#,
            tx = bx + 18.0,
            t1 = TOP + 4.0,
            tm = TOP + bh / 2.0 + 4.0,
            t0 = TOP + bh + 4.0,
            sx = bx + 62.0,
            sy = TOP + bh / 2.0,
        );
        s
    }
}

fn trim_number(t: f64) -> String {
    let s = format!("{t:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ticks_scale_and_title_are_in_the_figure() {
        let t = Timeline {
            title: "dog & cat.wav",
            classes: vec!["Dog", "Speech <male>"],
            scores: vec![vec![0.9, 0.1, 0.0], vec![0.2, 0.5, 1.0]],
            hop_s: 10.56,
            window_s: 10.56,
        };
        let svg = t.svg();
        for part in [
            "dog &amp; cat.wav",
            "Speech &lt;male&gt;",
            ">Dog<",
            "time (s)",
            ">score<",
            ">0<",
            ">30<",
        ] {
            assert!(svg.contains(part), "{part} missing");
        }
        // Two rows of three windows, plus the 20 steps of the colour bar and two frames.
        assert_eq!(svg.matches("<rect").count(), 1 + 6 + 1 + 20 + 1);
        assert_eq!(tick_step(31.68), 5.0);
        assert_eq!(tick_step(1.0), 0.2);
        assert_eq!(colour(0.0), "#ffffff");
    }

    /// A window's cell holds the window's centre: 1 s windows every 0.25 s put window 4's
    /// cell around 1.5 s (its start is 1.0 s), and the cells tile the span without gaps.
    #[test]
    fn cells_are_drawn_around_each_window_centre() {
        let t = Timeline {
            title: "x",
            classes: vec!["a"],
            scores: vec![vec![0.0; 9]],
            hop_s: 0.25,
            window_s: 1.0,
        };
        let span = 8.0 * 0.25 + 1.0;
        let (a, b) = t.cell(4, 9, span);
        assert!(a < 1.5 && 1.5 < b && (a - 1.375).abs() < 1e-12, "{a}..{b}");
        let mut end = 0.0;
        for i in 0..9 {
            let (a, b) = t.cell(i, 9, span);
            assert!((a - end).abs() < 1e-12 && b > a);
            end = b;
        }
        assert!((end - span).abs() < 1e-12);
    }
}
