//! Score matrices `[clips, classes]` on disk: tympan's `.npy`, and PSLA's CSV
//! (`np.savetxt(path, scores, delimiter=',')` in PSLA's `src/traintest.py`: one line per clip,
//! `%.18e`), the format of PSLA's released teacher predictions (`predictions.csv`, `target.csv`)
//! that its label enhancement (`src/label_enhancement/fix_type1.py`) reads.

use std::path::Path;

use anyhow::{Context, Result, bail};
use tympan_audio::npy::{self, NpyArray};

/// A score matrix from `.npy`, or from PSLA's comma-separated text when the name ends in `.csv`.
pub fn read(path: &Path) -> Result<NpyArray> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        read_csv(path)
    } else {
        Ok(npy::read(path)?)
    }
}

fn read_csv(path: &Path) -> Result<NpyArray> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let (mut data, mut cols, mut rows) = (Vec::new(), None, 0usize);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let before = data.len();
        for field in line.split(',') {
            let v: f32 = field.trim().parse().map_err(|_| {
                anyhow::anyhow!(
                    "{}:{}: {:?} is not a number",
                    path.display(),
                    i + 1,
                    field.trim()
                )
            })?;
            data.push(v);
        }
        let n = data.len() - before;
        match cols {
            None => cols = Some(n),
            Some(c) if c != n => bail!(
                "{}:{}: {n} values where the first line has {c}",
                path.display(),
                i + 1
            ),
            _ => {}
        }
        rows += 1;
    }
    let Some(cols) = cols else {
        bail!("{}: no scores", path.display());
    };
    Ok(NpyArray {
        shape: vec![rows, cols],
        data,
    })
}

/// Writes `[rows, cols]` as PSLA writes its predictions: `np.savetxt(..., delimiter=',')`, each
/// value as `%.18e`.
pub fn write_psla_csv(path: &Path, data: &[f32], cols: usize) -> Result<()> {
    let mut out = String::with_capacity(data.len() * 26);
    for row in data.chunks(cols.max(1)) {
        let line: Vec<String> = row.iter().map(|&v| savetxt(v)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, out).with_context(|| tmp.display().to_string())?;
    std::fs::rename(&tmp, path).with_context(|| path.display().to_string())
}

/// `v` as numpy's `%.18e`: a signed exponent of at least two digits (`2.5...e-01`), where
/// Rust's `{:e}` writes `e-1`.
fn savetxt(v: f32) -> String {
    let s = format!("{:.18e}", v as f64);
    match s.split_once('e') {
        Some((m, e)) => {
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        None => s, // inf, NaN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psla_csv_round_trips_and_bad_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("predictions.csv");
        let m = [0.25f32, 1e-7, 0.5, 0.999_999, 3.0e-12, 0.125];
        write_psla_csv(&p, &m, 3).unwrap();
        // np.savetxt's %.18e, exponent and all.
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("2.500000000000000000e-01,"), "{text}");
        assert_eq!(savetxt(3.0), "3.000000000000000000e+00");
        let back = read(&p).unwrap();
        assert_eq!(back.shape, [2, 3]);
        assert_eq!(back.data, m);
        std::fs::write(&p, "0.1,0.2\n0.3\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains(":2: 1 values"), "{e}");
        std::fs::write(&p, "0.1,x\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains(":1: \"x\""));
    }
}
