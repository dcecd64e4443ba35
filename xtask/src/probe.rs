//! Probe recipes (`kind = "probe"`, e.g. `cargo xtask train hershey-probe`): Hershey et al.'s
//! Sec. 4.4 experiment. Embeddings of a model trained by an earlier `cargo xtask train` run feed a
//! shallow fully connected classifier on another dataset, beside the same classifier on the raw
//! 96x64 log-mel patches.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tympan_models::{Backend, Tagger, create, load_burnpack};
use tympan_train::probe::{Embedder, ProbeConfig, ProbeResult, Rows, embed_files, fit};
use tympan_train::recipe::{Dataset, ProbeRecipe};

fn norm_of(run: &Path) -> Result<(f32, f32)> {
    let p = run.join("state.json");
    let text = std::fs::read_to_string(&p).with_context(|| {
        format!(
            "{}: the embedding run is missing (run its recipe first, e.g. `cargo xtask train us8k-hershey`)",
            p.display()
        )
    })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
    match (v["norm"][0].as_f64(), v["norm"][1].as_f64()) {
        (Some(m), Some(s)) if s > 0.0 => Ok((m as f32, s as f32)),
        _ => bail!("{}: no usable \"norm\": [mean, std]", p.display()),
    }
}

/// Run a probe recipe: embed the dataset's train and test clips with the run's model and as raw
/// patches, fit the classifier on each, print and write `probe.md` and `probe.json` in `out`.
pub fn run(
    root: &Path,
    path: &Path,
    r: &ProbeRecipe,
    data_dir: PathBuf,
    backend: &str,
    out: Option<PathBuf>,
) -> Result<()> {
    if !r.description.is_empty() {
        eprintln!("{}: {}", r.name, r.description);
    }
    if r.data.dataset != Dataset::Fsdd {
        bail!(
            "{}: probe recipes support data.dataset = \"fsdd\", got \"{}\"",
            path.display(),
            r.data.dataset
        );
    }
    if !r.embedding.arch.starts_with("hershey-") {
        bail!(
            "{}: embedding.arch must be a Hershey model (hershey-*), got {:?}",
            path.display(),
            r.embedding.arch
        );
    }
    let device = backend.parse::<Backend>()?.device()?;
    let run_dir = root.join(&r.embedding.run);
    let norm = norm_of(&run_dir)?;
    let weights = run_dir.join("model-last.bpk");
    let model = load_burnpack(
        create(&r.embedding.arch, r.embedding.classes, &device)?,
        &weights,
    )
    .with_context(|| weights.display().to_string())?;
    let Tagger::Hershey(net) = model else {
        bail!("{} is not a Hershey model", r.embedding.arch);
    };
    let ds = tympan_data::datasets::fsdd(&data_dir)?;
    let (test, train) = ds.split_fold(0);
    let files = |clips: &[&tympan_data::Clip]| -> Vec<PathBuf> {
        clips.iter().map(|c| c.path.clone()).collect()
    };
    let labels = |clips: &[&tympan_data::Clip]| -> Vec<usize> {
        clips.iter().map(|c| c.labels[0]).collect()
    };
    let (ytr, yte) = (labels(&train), labels(&test));
    let cfg = ProbeConfig {
        hidden: r.probe.hidden.clone(),
        epochs: r.probe.epochs,
        lr: r.probe.lr,
        seed: r.probe.seed,
        ..ProbeConfig::default()
    };
    eprintln!(
        "probe {}: {} train / {} test clips of {}, embeddings from {} ({}), norm {:.4} / {:.4}",
        r.name,
        train.len(),
        test.len(),
        data_dir.display(),
        r.embedding.arch,
        run_dir.display(),
        norm.0,
        norm.1
    );
    let mut results: Vec<(String, usize, ProbeResult)> = Vec::new();
    let raw = r.probe.raw_frames;
    for (label, embedder) in [
        (
            format!("{} embeddings", r.embedding.arch),
            Embedder::Net(&net),
        ),
        (
            format!("raw log-mel patches, 64 x {raw}"),
            Embedder::Raw { frames: raw },
        ),
    ] {
        let etr = embed_files(embedder, &files(&train), norm, true, &device)?;
        let ete = embed_files(embedder, &files(&test), norm, true, &device)?;
        let res = fit(
            Rows {
                x: &etr.rows,
                labels: &ytr,
            },
            Rows {
                x: &ete.rows,
                labels: &yte,
            },
            etr.dim,
            ds.classes.len(),
            &cfg,
            &device,
        )?;
        eprintln!(
            "{label}: dimension {}, train accuracy {:.4}, test accuracy {:.4}",
            etr.dim, res.train_accuracy, res.test_accuracy
        );
        results.push((label, etr.dim, res));
    }
    let out = out.unwrap_or_else(|| root.join("experiments/runs").join(&r.name));
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    let mut md = String::from(
        "| classifier input | dimension | train accuracy | test accuracy |\n|---|---|---|---|\n",
    );
    let mut json = Vec::new();
    for (label, dim, res) in &results {
        md.push_str(&format!(
            "| {label} | {dim} | {:.3} | {:.3} |\n",
            res.train_accuracy, res.test_accuracy
        ));
        json.push(serde_json::json!({
            "input": label, "dimension": dim,
            "train_accuracy": res.train_accuracy, "test_accuracy": res.test_accuracy,
        }));
    }
    println!("\n{md}");
    std::fs::write(out.join("probe.md"), &md)?;
    std::fs::write(
        out.join("probe.json"),
        serde_json::to_vec_pretty(&serde_json::json!({ "recipe": r.name, "results": json }))?,
    )?;
    println!("wrote {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tympan_train::recipe::Experiment;

    #[test]
    fn the_shipped_probe_recipe_parses() {
        let p = crate::workspace_root().join("experiments/hershey-probe.toml");
        let Experiment::Probe(r) = Experiment::load(&p, &[]).unwrap() else {
            panic!("hershey-probe is not read as a probe recipe");
        };
        assert_eq!(r.name, "hershey-probe");
        assert_eq!(r.embedding.arch, "hershey-fc-b128");
        assert_eq!(r.probe.hidden, [256]);
        assert_eq!(r.probe.raw_frames, 20, "the paper's 64 x 20 baseline");
        let src = Path::new("x.toml");
        let e = Experiment::from_toml("name = \"x\"\nkind = \"probe\"\nbogus = 1", src, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = Experiment::from_toml("name = \"x\"\nkind = \"sweep\"", src, &[])
            .unwrap_err()
            .to_string();
        for part in ["kind", "sweep", "train", "probe"] {
            assert!(e.contains(part), "{part} missing from: {e}");
        }
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(Experiment::from_toml(&text, &p, &["probe.epochs=2".into()]).is_err());
    }
}
