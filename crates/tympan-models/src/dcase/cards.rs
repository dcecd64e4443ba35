//! Jeong & Lim's registered models: `densenet-{logmel|wave}[-small][-16k|-32k|-44k][-h1|-h8]`,
//! the front end, the reduced growth, the sample rate (Table 1; 44.1 kHz by default) and the
//! softmax heads (8 by default; 1 for Fig. 3), each suffix at most once and in this order.

use burn::prelude::Device;
use tympan_audio::{InputContract, InputKind};

use super::{DenseInput, DenseNetConfig};
use crate::card::{Family, ModelInfo, OutputKind};
use crate::tagger::Tagger;

/// Jeong & Lim's single-block DenseNet with SE (DCASE 2018 task 2, Fig. 2).
pub struct JeongLim;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Arch {
    input: DenseInput,
    /// The reduced growth of [`DenseNetConfig::small_growth`] (CPU-scale runs).
    small: bool,
    rate: u32,
    heads: usize,
}

fn parse(name: &str) -> Option<Arch> {
    let mut parts = name.strip_prefix("densenet-")?.split('-');
    let input = match parts.next()? {
        "logmel" => DenseInput::LogMel,
        "wave" => DenseInput::Waveform,
        _ => return None,
    };
    let mut arch = Arch {
        input,
        small: false,
        rate: 44_100,
        heads: 8,
    };
    let mut stage = 0;
    for p in parts {
        let s = match p {
            "small" => 1,
            "16k" | "32k" | "44k" => 2,
            "h1" | "h8" => 3,
            _ => return None,
        };
        // Each suffix at most once, in this order.
        if s <= stage {
            return None;
        }
        stage = s;
        match p {
            "small" => arch.small = true,
            "16k" => arch.rate = 16_000,
            "32k" => arch.rate = 32_000,
            "44k" => arch.rate = 44_100,
            "h1" => arch.heads = 1,
            _ => arch.heads = 8,
        }
    }
    Some(arch)
}

impl Family for JeongLim {
    fn names(&self) -> Vec<String> {
        [
            "densenet-logmel",
            "densenet-wave",
            "densenet-logmel-small",
            "densenet-wave-small",
            // Table 1's rates and Fig. 3's single head (any combination parses).
            "densenet-logmel-16k",
            "densenet-logmel-32k",
            "densenet-logmel-h1",
        ]
        .map(String::from)
        .into()
    }

    fn card(&self, name: &str) -> Option<ModelInfo> {
        let Arch {
            input,
            small,
            rate,
            heads,
        } = parse(name)?;
        Some(ModelInfo::new(
            name,
            format!(
                "Jeong & Lim single-block DenseNet with SE, {} front end at {} kHz, {heads} softmax head{}{}",
                match input {
                    DenseInput::LogMel => "in-graph log-mel",
                    DenseInput::Waveform => "waveform",
                },
                rate as f64 / 1000.0,
                if heads == 1 { "" } else { "s" },
                if small {
                    " (reduced growth for CPU-scale runs)"
                } else {
                    ""
                }
            ),
            "Jeong & Lim, DCASE 2018 task 2, Fig. 2",
            // 64,000-sample crops at every rate (4 s at 16 kHz, 2 s at 32, 1.45 s at 44.1).
            InputContract::new(InputKind::Waveform, 64_000, (0.0, 1.0), Some(rate)),
            OutputKind::Distribution,
        ))
    }

    fn create(&self, name: &str, num_classes: usize, device: &Device) -> Option<Tagger> {
        let Arch {
            input,
            small,
            rate,
            heads,
        } = parse(name)?;
        let mut cfg = DenseNetConfig::new(num_classes, input)
            .with_sample_rate(rate)
            .with_heads(heads);
        if small {
            cfg = cfg.with_growth(Some(DenseNetConfig::small_growth(input)));
        }
        Some(Tagger::DenseNet(cfg.init(device)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_heads_by_suffix_each_once_and_in_order() {
        for n in JeongLim.names() {
            assert!(parse(&n).is_some(), "{n}");
        }
        assert_eq!(
            parse("densenet-logmel-small-32k-h1"),
            Some(Arch {
                input: DenseInput::LogMel,
                small: true,
                rate: 32_000,
                heads: 1
            })
        );
        let rate = |n| JeongLim.card(n).unwrap().input.sample_rate;
        assert_eq!(rate("densenet-wave-16k"), Some(16_000));
        assert_eq!(rate("densenet-wave"), Some(44_100));
        for bad in [
            "densenet-logmel-h1-16k",
            "densenet-logmel-16k-16k",
            "densenet-mfcc",
            "densenet-logmel-8k",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let Some(Tagger::DenseNet(one)) =
            JeongLim.create("densenet-logmel-small-16k-h1", 41, &Device::flex())
        else {
            panic!("not a DenseNet");
        };
        assert_eq!(one.heads.len(), 1);
        assert_eq!(
            one.logmel.as_ref().map(|l| l.config.sample_rate),
            Some(16_000.0)
        );
    }
}
