//! Hershey et al.'s registered models: `hershey-{fc|alexnet|vgg|inception|resnet50}`, each also
//! with `-b128`, the 128-d bottleneck before the output (Sec. 4.4 embeddings).

use burn::prelude::Device;
use tympan_audio::{InputContract, InputKind};

use super::{HersheyArch, HersheyConfig, PATCH};
use crate::card::{Family, ModelInfo, OutputKind};
use crate::tagger::Tagger;

/// Hershey et al.'s CNNs on 96x64 log-mel patches (ICASSP 2017, Sec. 3).
pub struct Hershey;

const BASES: [&str; 5] = ["fc", "alexnet", "vgg", "inception", "resnet50"];

fn parse(name: &str) -> Option<(HersheyArch, Option<usize>)> {
    let rest = name.strip_prefix("hershey-")?;
    let (base, bottleneck) = match rest.strip_suffix("-b128") {
        Some(b) => (b, Some(128)),
        None => (rest, None),
    };
    let arch = match base {
        "fc" => HersheyArch::Fc {
            layers: 3,
            units: 1000,
        },
        "alexnet" => HersheyArch::AlexNet,
        "vgg" => HersheyArch::Vgg,
        "resnet50" => HersheyArch::ResNet50,
        "inception" => HersheyArch::InceptionV3,
        _ => return None,
    };
    Some((arch, bottleneck))
}

impl Family for Hershey {
    fn names(&self) -> Vec<String> {
        BASES
            .iter()
            .flat_map(|b| [format!("hershey-{b}"), format!("hershey-{b}-b128")])
            .collect()
    }

    fn card(&self, name: &str) -> Option<ModelInfo> {
        let (arch, bottleneck) = parse(name)?;
        Some(ModelInfo::new(
            name,
            format!(
                "Hershey et al. {arch:?} on 96x64 log-mel patches{}",
                if bottleneck.is_some() {
                    ", 128-d bottleneck"
                } else {
                    ""
                }
            ),
            "Hershey et al. (ICASSP 2017), Sec. 3",
            InputContract::new(InputKind::Vggish, PATCH[0], (0.0, 1.0), Some(16_000)),
            OutputKind::Probabilities,
        ))
    }

    fn create(&self, name: &str, num_classes: usize, device: &Device) -> Option<Tagger> {
        let (arch, bottleneck) = parse(name)?;
        Some(Tagger::Hershey(
            HersheyConfig::new(arch, num_classes)
                .with_bottleneck(bottleneck)
                .init(device),
        ))
    }
}
