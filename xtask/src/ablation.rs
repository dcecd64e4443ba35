//! `cargo xtask ablation <table> --recipe <recipe>`: PSLA's augmentation ablations (Gong et al.,
//! TASLP 2021) as resumable grids of `cargo xtask train` runs, each table printed with the
//! paper's balanced-set mAP beside ours:
//!
//! - `psla-table4`: the pretrained baseline, + time-frequency masking, + mixup (Table IV);
//! - `psla-table5`: mixup rate 0 / 0.2 / 0.5 / 0.8 / 1.0 at Beta(10, 10) (Table V);
//! - `psla-table6`: mixup alpha "-inf" (no mixup) / 0.1 / 1 / 10 at rate 0.5 (Table VI).
//!
//! Every cell is the recipe with `train.freqm`, `train.timem`, `train.mixup` and
//! `train.mixup_alpha` set; a cell is named by those settings, so the runs the tables share (the
//! recipe's own setting, masking + mixup 0.5 at alpha 10, is in all three) are trained once.
//! Cells live in `<out>/<cell>/`; a cell whose `summary.json` exists is read, not rerun, and an
//! interrupted cell resumes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tympan_train::recipe::Experiment;

use crate::grid::{CellArgs, read_summary, run_cell};

/// Arguments of `cargo xtask ablation`.
#[derive(clap::Args)]
pub struct AblationArgs {
    /// psla-table4, psla-table5 or psla-table6.
    pub table: String,
    /// The recipe every cell starts from (its masks and mixup are the "full" setting).
    #[arg(long, default_value = "us8k-psla")]
    pub recipe: String,
    /// Every cell's data folder, overrides and backend.
    #[command(flatten)]
    pub cell: CellArgs,
    /// Folder of the cells (default: experiments/runs/<recipe>-ablations).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One row of a table: its label, its augmentation and the paper's balanced-set mAP.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    label: String,
    masks: bool,
    /// Mixup rate and Beta alpha; `None` is no mixup.
    mixup: Option<(f64, f64)>,
    paper: f64,
    source: &'static str,
}

impl Row {
    fn cell(&self) -> String {
        let m = if self.masks { "mask" } else { "nomask" };
        match self.mixup {
            Some((r, a)) => format!("{m}-mixup{r}-alpha{a}"),
            None => format!("{m}-nomixup"),
        }
    }

    /// `--set` overrides; masks on means the recipe's `freqm` / `timem`.
    fn set(&self, freqm: usize, timem: usize) -> Vec<String> {
        let (f, t) = if self.masks { (freqm, timem) } else { (0, 0) };
        let (rate, alpha) = self.mixup.unwrap_or((0.0, 10.0));
        vec![
            format!("train.freqm={f}"),
            format!("train.timem={t}"),
            format!("train.mixup={rate:?}"),
            format!("train.mixup_alpha={alpha:?}"),
        ]
    }
}

fn row(label: &str, masks: bool, mixup: Option<(f64, f64)>, paper: f64, t: &'static str) -> Row {
    Row {
        label: label.into(),
        masks,
        mixup,
        paper,
        source: t,
    }
}

/// The rows of a table, with PSLA's balanced-set numbers (Gong et al. Tables IV, V, VI).
fn rows(table: &str) -> Result<Vec<Row>> {
    Ok(match table {
        "psla-table4" => vec![
            row("baseline (ImageNet-pretrained)", false, None, 0.2385, "IV"),
            row("+ time-frequency masking", true, None, 0.2818, "IV"),
            row(
                "+ mixup (rate 0.5, alpha 10)",
                true,
                Some((0.5, 10.0)),
                0.3108,
                "IV",
            ),
        ],
        "psla-table5" => [(0.0, 0.2818), (0.2, 0.3060), (0.5, 0.3108), (0.8, 0.3119)]
            .into_iter()
            .chain([(1.0, 0.2928)])
            .map(|(r, p)| {
                let mixup = (r > 0.0).then_some((r, 10.0));
                row(&format!("mixup rate {r}"), true, mixup, p, "V")
            })
            .collect(),
        "psla-table6" => vec![
            row("alpha -inf (no mixup)", true, None, 0.2818, "VI"),
            row("alpha 0.1", true, Some((0.5, 0.1)), 0.3004, "VI"),
            row("alpha 1", true, Some((0.5, 1.0)), 0.3087, "VI"),
            row("alpha 10", true, Some((0.5, 10.0)), 0.3108, "VI"),
        ],
        other => {
            bail!("unknown ablation {other:?}; available: psla-table4, psla-table5, psla-table6")
        }
    })
}

/// Run (or read) every cell of the table, then print it; also written to `<out>/<table>.md`.
pub fn run(root: &Path, a: AblationArgs) -> Result<()> {
    let rows = rows(&a.table)?;
    let path = crate::train::recipe_path(root, &a.recipe)?;
    let Experiment::Train(recipe) = Experiment::load(&path, &a.cell.set)? else {
        bail!("{}: an ablation needs a training recipe", path.display());
    };
    let (freqm, timem) = (recipe.train.freqm, recipe.train.timem);
    if freqm == 0 && timem == 0 {
        bail!(
            "{}: the recipe has no masks (train.freqm = train.timem = 0), so \"+ masking\" would equal the baseline",
            path.display()
        );
    }
    let out_root = a.out.clone().unwrap_or_else(|| {
        root.join("experiments/runs")
            .join(format!("{}-ablations", recipe.name))
    });
    for (i, r) in rows.iter().enumerate() {
        run_cell(
            root,
            &a.recipe,
            &a.cell,
            r.set(freqm, timem),
            out_root.join(r.cell()),
            &format!("[{}/{}] {} ({})", i + 1, rows.len(), r.label, r.cell()),
            &format!("ablation cell {}", r.cell()),
        )?;
    }
    let table = render(&out_root, &a.table, &rows)?;
    println!("\n{table}");
    let md = out_root.join(format!("{}.md", a.table));
    std::fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
    eprintln!("wrote {}", md.display());
    Ok(())
}

fn render(out_root: &Path, table: &str, rows: &[Row]) -> Result<String> {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| {table} | test mAP, last epoch | test mAP, chosen on validation | test accuracy | test mAP, mean of the last 5 epochs | PSLA balanced-set mAP (paper; the mean of its last 5 epochs) |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|");
    for r in rows {
        let ours = match read_summary(&out_root.join(r.cell()))? {
            Some(s) => {
                let sel = s.selected.unwrap_or(s.last_epoch);
                format!(
                    "{:.3} | {:.3} | {:.3} | {:.3}",
                    s.last_epoch.map, sel.map, s.last_epoch.accuracy, s.mean_last_5.map
                )
            }
            None => "not run | | | ".to_string(),
        };
        let _ = writeln!(
            t,
            "| {} | {ours} | {:.4} (Table {}) |",
            r.label, r.paper, r.source
        );
    }
    let _ = writeln!(
        t,
        "\nOurs: the recipe's test split; the paper's: AudioSet eval, EfficientNet-B2, 60 epochs of the balanced set. PSLA's single-model figures are the mean over the last 5 epochs: the column beside them is ours of that kind."
    );
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_share_their_common_cell_and_carry_the_papers_numbers() {
        let t4 = rows("psla-table4").unwrap();
        let t5 = rows("psla-table5").unwrap();
        let t6 = rows("psla-table6").unwrap();
        assert_eq!((t4.len(), t5.len(), t6.len()), (3, 5, 4));
        // Masking + mixup 0.5 at alpha 10: the recipe's own setting, one run for all three.
        let full = "mask-mixup0.5-alpha10";
        assert_eq!(t4[2].cell(), full);
        assert_eq!(t5[2].cell(), full);
        assert_eq!(t6[3].cell(), full);
        assert!([t4[2].paper, t5[2].paper, t6[3].paper] == [0.3108; 3]);
        // Masking without mixup is Table IV's second row, Table V's rate 0, Table VI's -inf.
        assert_eq!(t4[1].cell(), t5[0].cell());
        assert_eq!(t5[0].cell(), t6[0].cell());
        assert_eq!(t4[0].cell(), "nomask-nomixup");
        assert_eq!(
            t4[0].set(48, 80),
            [
                "train.freqm=0",
                "train.timem=0",
                "train.mixup=0.0",
                "train.mixup_alpha=10.0"
            ]
        );
        assert_eq!(
            t6[1].set(48, 80)[2..],
            ["train.mixup=0.5", "train.mixup_alpha=0.1"]
        );
        assert!(rows("psla-table7").is_err());
    }
}
