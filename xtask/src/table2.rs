//! `cargo xtask table2`: Naranjo-Alcazar et al.'s Table II (residual blocks RB1-RB6 x input
//! normalisation on the 1D network, and RB1-RB6 on the slim 2D log-mel network) as one resumable
//! grid of `cargo xtask train` runs, then the table.
//!
//! Each cell is a run of the `<dataset>-m34-res` or `<dataset>-slim2d` recipe with
//! `model.arch` and `features.wave_norm` set, written to `<out>/<cell>/`. A cell whose
//! `summary.json` exists is read, not rerun, and an interrupted cell resumes from its last
//! checkpoint, so the command can be stopped and started again at any point.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::grid::{CellArgs, read_summary, run_cell};

/// The paper's three input normalisations of the raw waveform.
pub const NORMS: [&str; 3] = ["none", "scale-max", "zero-mean-unit-std"];

/// Arguments of `cargo xtask table2`.
#[derive(clap::Args)]
pub struct Table2Args {
    /// fsdd (recipes fsdd-m34-res, fsdd-slim2d) or us8k (the subset's us8k-m34-res-small,
    /// us8k-slim2d-small; the paper's settings, us8k-m34-res and us8k-slim2d, are GPU jobs).
    #[arg(long, default_value = "fsdd")]
    pub dataset: String,
    /// 1D network: m34-res (the paper's) or m10-res (one block per stage, for CPU budgets).
    #[arg(long, default_value = "m34-res")]
    pub arch_1d: String,
    /// Which part of the grid to run: all, 1d or 2d.
    #[arg(long, default_value = "all")]
    pub part: String,
    /// Every cell's data folder, overrides and backend.
    #[command(flatten)]
    pub cell: CellArgs,
    /// Grid folder (default: experiments/runs/table2-<dataset>-<arch-1d>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

struct Cell {
    name: String,
    recipe: String,
    set: Vec<String>,
}

/// The recipe of a grid cell: the FSDD recipes, or the UrbanSound8K subset's CPU-scale ones.
fn recipe(dataset: &str, net: &str) -> String {
    match dataset {
        "us8k" => format!("us8k-{net}-small"),
        _ => format!("{dataset}-{net}"),
    }
}

fn cells(a: &Table2Args) -> Result<Vec<Cell>> {
    if !["m34-res", "m10-res"].contains(&a.arch_1d.as_str()) {
        bail!("--arch-1d must be m34-res or m10-res, got {:?}", a.arch_1d);
    }
    if !["all", "1d", "2d"].contains(&a.part.as_str()) {
        bail!("--part must be all, 1d or 2d, got {:?}", a.part);
    }
    let mut out = Vec::new();
    for rb in 1..=6 {
        if a.part != "2d" {
            for norm in NORMS {
                out.push(Cell {
                    name: format!("{}-rb{rb}-{norm}", a.arch_1d),
                    recipe: recipe(&a.dataset, "m34-res"),
                    set: vec![
                        format!("model.arch=\"{}-rb{rb}\"", a.arch_1d),
                        format!("features.wave_norm=\"{norm}\""),
                    ],
                });
            }
        }
        if a.part != "1d" {
            out.push(Cell {
                name: format!("slim2d-rb{rb}"),
                recipe: recipe(&a.dataset, "slim2d"),
                set: vec![format!("model.arch=\"slim2d-rb{rb}\"")],
            });
        }
    }
    Ok(out)
}

/// Run (or read) every cell of the grid and print the table; also written to `<out>/table2.md`.
pub fn run(root: &Path, a: Table2Args) -> Result<()> {
    if !["fsdd", "us8k"].contains(&a.dataset.as_str()) {
        bail!("--dataset must be fsdd or us8k, got {:?}", a.dataset);
    }
    let grid = cells(&a)?;
    let out_root = a.out.clone().unwrap_or_else(|| {
        root.join("experiments/runs")
            .join(format!("table2-{}-{}", a.dataset, a.arch_1d))
    });
    for (i, cell) in grid.iter().enumerate() {
        run_cell(
            root,
            &cell.recipe,
            &a.cell,
            cell.set.clone(),
            out_root.join(&cell.name),
            &format!("[{}/{}] {}", i + 1, grid.len(), cell.name),
            &format!("table2 cell {}", cell.name),
        )?;
    }
    let table = render(&out_root, &a.arch_1d)?;
    println!("\n{table}");
    let path = out_root.join("table2.md");
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn accuracy(dir: &Path) -> Result<Option<(f64, f64)>> {
    // The test accuracy of the model chosen on validation (never the best test epoch).
    Ok(read_summary(dir)?.map(|s| {
        let best = s.selected.map_or(s.last_epoch.accuracy, |v| v.accuracy);
        (s.last_epoch.accuracy, best)
    }))
}

/// The table: one row per residual block, last-epoch test accuracy (in brackets the test
/// accuracy of the epoch chosen on the validation split).
fn render(out_root: &Path, arch_1d: &str) -> Result<String> {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| block | 1D {arch_1d}, none | 1D, scale-max | 1D, zero-mean-unit-std | slim 2D log-mel |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|");
    let fmt = |v: Option<(f64, f64)>| match v {
        Some((last, best)) => format!("{last:.3} ({best:.3})"),
        None => "not run".to_string(),
    };
    for rb in 1..=6 {
        let mut row = format!("| RB{rb} |");
        for norm in NORMS {
            let v = accuracy(&out_root.join(format!("{arch_1d}-rb{rb}-{norm}")))?;
            let _ = write!(row, " {} |", fmt(v));
        }
        let v = accuracy(&out_root.join(format!("slim2d-rb{rb}")))?;
        let _ = write!(row, " {} |", fmt(v));
        let _ = writeln!(t, "{row}");
    }
    let _ = writeln!(
        t,
        "\nTest accuracy after the last epoch (in brackets: of the epoch chosen on the validation split)."
    );
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(part: &str, arch: &str) -> Table2Args {
        Table2Args {
            dataset: "fsdd".into(),
            arch_1d: arch.into(),
            part: part.into(),
            cell: CellArgs {
                data_dir: None,
                set: vec![],
                backend: "flex".into(),
            },
            out: None,
        }
    }

    #[test]
    fn the_grid_has_the_papers_24_cells() {
        let all = cells(&args("all", "m34-res")).unwrap();
        assert_eq!(all.len(), 24);
        assert_eq!(all.iter().filter(|c| c.recipe == "fsdd-slim2d").count(), 6);
        assert!(all.iter().any(|c| {
            c.name == "m34-res-rb3-scale-max"
                && c.set.contains(&"model.arch=\"m34-res-rb3\"".to_string())
                && c.set
                    .contains(&"features.wave_norm=\"scale-max\"".to_string())
        }));
        assert_eq!(cells(&args("1d", "m10-res")).unwrap().len(), 18);
        assert_eq!(cells(&args("2d", "m10-res")).unwrap().len(), 6);
        assert!(cells(&args("3d", "m10-res")).is_err());
        assert!(cells(&args("all", "m5")).is_err());
    }

    #[test]
    fn missing_cells_render_as_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let t = render(dir.path(), "m10-res").unwrap();
        assert_eq!(t.matches("not run").count(), 24);
        assert!(t.contains("| RB6 |"));
    }
}
