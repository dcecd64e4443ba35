//! Train a tympan model with burn-train's `Learner` on real clips: Hershey et al.'s fully
//! connected network on 96x64 log-mel patches of the Free Spoken Digit Dataset, with tympan's
//! input pipeline feeding burn's data loaders and burn-train running the epochs, its metrics and
//! checkpoints. The trained model is then scored with tympan's metrics on FSDD's test split.
//!
//! ```sh
//! cargo run -p tympan-train --example learner -- ../shared/data/fsdd [EPOCHS] [OUT_DIR]
//! ```
//!
//! burn-train's validation loader reads a seeded tenth of the training clips; FSDD's test split
//! (takes 0-4) is scored once, at the end, and never seen by training.

use std::path::{Path, PathBuf};

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::train::metric::{HammingScore, LossMetric};
use burn::train::{Learner, SupervisedTraining};
use tympan_train::data::{Pipeline, norm_stats, prepare};
use tympan_train::engine::{Scores, predict, score};
use tympan_train::learner::{LearnerTagger, TaggingBatcher};
use tympan_train::recipe::Loss;
use tympan_train::{Recipe, TrainError};

/// FSDD through Hershey et al.'s input: 16 kHz, one 96-frame VGGish patch per clip.
const RECIPE: &str = r#"
name = "learner-example"
[data]
dataset = "fsdd"
data_dir = "fsdd"
sample_rate = 16000
[features]
input = "vggish"
target_length = 96
[model]
arch = "hershey-fc"
[optim]
lr = 1e-3
schedule = { kind = "constant" }
[train]
batch_size = 32
epochs = 1
sampler = "uniform"
"#;

/// Trains for `epochs` with the Learner (its files under `out`) and returns the trained model's
/// scores on FSDD's test split.
pub fn train(data_dir: &Path, epochs: usize, out: &Path) -> Result<Scores, TrainError> {
    let dir = format!("data.data_dir={:?}", data_dir.display().to_string());
    let recipe = Recipe::from_toml(RECIPE, Path::new("learner-example.toml"), &[dir])?;
    let data = prepare(&recipe)?;
    let classes = data.classes.len();
    let mut pipe = Pipeline::for_recipe(&recipe);
    (pipe.contract.mean, pipe.contract.std) = norm_stats(&data.train, &pipe, 2000)?;
    // The recipe's validation split (a seeded, stratified tenth of the training clips) is the
    // Learner's; the test split stays unseen.
    let (fit, valid) = (data.train.clone(), data.valid.clone());
    let device = Device::flex();
    let train_loader = DataLoaderBuilder::new(TaggingBatcher::new(pipe, true, 0))
        .batch_size(recipe.train.batch_size)
        .shuffle(0)
        .num_workers(1)
        .set_device(device.clone())
        .build(InMemDataset::new(fit));
    let valid_loader = DataLoaderBuilder::new(TaggingBatcher::new(pipe, false, 0))
        .batch_size(64)
        .set_device(device.clone())
        .build(InMemDataset::new(valid));
    // The Learner needs the model on an autodiff device.
    let net = tympan_models::create(&recipe.model.arch, classes, &device.clone().autodiff())?;
    let learner = Learner::new(
        LearnerTagger::new(net, Loss::Bce),
        AdamConfig::new().init(),
        recipe.optim.lr,
    );
    let result = SupervisedTraining::new(out, train_loader, valid_loader)
        .metrics((LossMetric::new(), HammingScore::new()))
        .num_epochs(epochs)
        .summary()
        .launch(learner);
    // `result.model` is in evaluation mode, off the autodiff device.
    let preds = predict(&result.model.model, &data.test, &pipe, 64, &device)?;
    let targets: Vec<f32> = data.test.iter().flat_map(|i| i.target.clone()).collect();
    Ok(score(&preds, &targets, classes)?.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data_dir = PathBuf::from(
        args.next()
            .ok_or("usage: learner FSDD_DIR [EPOCHS] [OUT_DIR]")?,
    );
    let epochs: usize = args.next().map_or(Ok(3), |e| e.parse())?;
    let out = args
        .next()
        .map_or_else(|| PathBuf::from("target/learner-example"), PathBuf::from);
    let s = train(&data_dir, epochs, &out)?;
    println!(
        "FSDD test split after {epochs} epochs under burn-train's Learner: accuracy {:.4}, mAP {:.4}, AUC {:.4}",
        s.accuracy, s.map, s.auc
    );
    Ok(())
}
