//! Jeong & Lim's DCASE 2018 task 2 DenseNet with its in-graph log-mel front end.

pub mod cards;
mod densenet;
mod logmel;

pub use densenet::{DenseInput, DenseModule, DenseNet, DenseNetConfig, Se};
pub use logmel::{LogMel, LogMelConfig, slaney_mel_matrix};

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

    #[test]
    fn both_models_build_run_and_have_the_papers_size() {
        let device = Device::flex();
        let logmel = DenseNetConfig::new(41, DenseInput::LogMel).init(&device);
        let wave = DenseNetConfig::new(41, DenseInput::Waveform).init(&device);
        let (pl, pw) = (crate::num_params(&logmel), crate::num_params(&wave));
        // Paper: "about 11M" and "about 16M".
        assert!(
            (9_500_000..12_500_000).contains(&pl),
            "log-mel model has {pl}"
        );
        assert!(
            (14_000_000..18_000_000).contains(&pw),
            "waveform model has {pw}"
        );
        let x = Tensor::<3>::random([2, 1, 8_000], burn::tensor::Distribution::Default, &device);
        let p = logmel.forward(x.clone());
        assert_eq!(p.dims(), [2, 41]);
        let sums: Vec<f32> = p.sum_dim(1).into_data().try_into_vec_as::<f32>().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{sums:?}");
        assert_eq!(wave.forward(x).dims(), [2, 41]);
    }
}
