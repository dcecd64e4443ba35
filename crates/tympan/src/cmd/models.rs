//! `tympan models list`: the model cards, with parameter counts, input, output kind and
//! whether ImageNet weights load.

use std::process::ExitCode;

use anyhow::Result;
use tympan_models::{Backend, OutputKind, create, list, num_params};

const EXAMPLES: &str = "\
Examples:
  tympan models list
  tympan models list --filter psla --classes 10
  tympan models list --format json | jq '.models[] | {name, params}'";

/// Inspect the model zoo.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Names, parameter counts (for the given number of classes), input, output kind (sigmoid or
    /// softmax) and whether the model takes ImageNet weights.
    #[command(after_help = EXAMPLES)]
    List {
        /// Output classes used for the parameter count (527 = AudioSet).
        #[arg(long, default_value_t = 527)]
        classes: usize,
        /// Only names containing this text.
        #[arg(long)]
        filter: Option<String>,
        /// Output: aligned text, or JSON (`{"models": [...], "released": [...]}`).
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

pub fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        Sub::List {
            classes,
            filter,
            format,
        } => {
            let device = Backend::default_available()
                .ok_or_else(|| anyhow::anyhow!("no backend compiled in"))?
                .device()?;
            if format == ListFormat::Json {
                return json(classes, filter.as_deref(), &device);
            }
            println!(
                "{:<26} {:>12}  {:<32} {:<8} {:<9} {:<40} description",
                "name", "params", "input", "output", "ImageNet", "normalisation"
            );
            for m in list() {
                if filter
                    .as_ref()
                    .is_some_and(|f| !m.name.contains(f.as_str()))
                {
                    continue;
                }
                let model = create(&m.name, classes, &device)?;
                let input = format!(
                    "{} {}x{} @ {} Hz",
                    m.input.input,
                    m.input.length,
                    m.bins(),
                    m.input.sample_rate.unwrap_or_default()
                );
                let output = match m.output {
                    OutputKind::Probabilities => "sigmoid",
                    OutputKind::Distribution => "softmax",
                };
                let imagenet = if m.imagenet.is_some() { "yes" } else { "-" };
                println!(
                    "{:<26} {:>12}  {:<32} {:<8} {:<9} {:<40} {}",
                    m.name,
                    num_params(&model),
                    input,
                    output,
                    imagenet,
                    m.normalisation().to_string(),
                    m.description
                );
            }
            // The released models (`tympan tag --pretrained NAME`), with the input they read.
            println!("\nreleased models (tympan tag --pretrained NAME):");
            println!("{:<22} {:<16} {:<40} description", "name", "arch", "input");
            for p in tympan::hub::PRETRAINED {
                if filter
                    .as_ref()
                    .is_some_and(|f| !p.name.contains(f.as_str()))
                {
                    continue;
                }
                let c = p.contract();
                let input = format!(
                    "{} {} frames @ {} Hz, norm {}/{}",
                    c.input,
                    c.length,
                    c.sample_rate.unwrap_or(16_000),
                    c.mean,
                    c.std
                );
                println!(
                    "{:<22} {:<16} {:<40} {}",
                    p.name, p.arch, input, p.description
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `models list`'s outputs (no CSV: a model's input nests).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// Aligned text for a person.
    Table,
    /// JSON: `{"models": [...], "released": [...]}`.
    Json,
}

/// `models list --format json`.
fn json(classes: usize, filter: Option<&str>, device: &tympan::Device) -> Result<ExitCode> {
    let keep = |name: &str| filter.is_none_or(|f| name.contains(f));
    let mut models = Vec::new();
    for m in list().into_iter().filter(|m| keep(&m.name)) {
        let model = create(&m.name, classes, device)?;
        models.push(serde_json::json!({
            "name": m.name,
            "params": num_params(&model),
            "input": {
                "frontend": m.input.input,
                "frames": m.input.length,
                "bins": m.bins(),
                "sample_rate": m.input.sample_rate,
                "normalisation": m.normalisation().to_string(),
            },
            "output": m.output,
            "imagenet": m.imagenet.is_some(),
            "description": m.description,
            "reference": m.reference,
        }));
    }
    let released: Vec<_> = tympan::hub::PRETRAINED
        .iter()
        .filter(|p| keep(p.name))
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "arch": p.arch,
                "input": p.contract(),
                "description": p.description,
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({"models": models, "released": released}))?
    );
    Ok(ExitCode::SUCCESS)
}
