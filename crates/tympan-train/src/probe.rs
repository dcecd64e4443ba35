//! A shallow classifier on fixed features: Hershey et al.'s Sec. 4.4 experiment, where embeddings
//! of a CNN trained on one dataset feed a small fully connected network trained on another, and
//! the same network on raw log-mel patches is the baseline.
//!
//! The network: `hidden` ReLU layers (none = logistic regression), softmax over the classes,
//! cross-entropy, Adam; inputs standardised per dimension with the training set's statistics.

use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tympan_kernels::relu;

use crate::error::TrainError;
pub use crate::recipe::ProbeConfig;
pub use tympan_infer::{Embedder, Embeddings, embed_files};

/// A fully connected classifier.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers.
    pub hidden: Vec<Linear>,
    /// Output layer.
    pub out: Linear,
}

impl Mlp {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = self
            .hidden
            .iter()
            .fold(x, |h, l| relu(tympan_kernels::linear(l, h)));
        tympan_kernels::linear(&self.out, h)
    }
}

/// What a fit gives.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// Accuracy on the training rows.
    pub train_accuracy: f64,
    /// Accuracy on the test rows.
    pub test_accuracy: f64,
    /// Test-row class probabilities `[n_test, classes]`.
    pub test_probs: Vec<f32>,
}

/// Top-1 accuracy of probabilities `[labels.len(), classes]` ([`tympan_metrics::accuracy`]: a
/// class tied with the true one counts as a miss).
fn accuracy(probs: &[f32], labels: &[usize], classes: usize) -> Result<f64, TrainError> {
    let m = tympan_metrics::Matrix::new(probs, labels.len(), classes)?;
    Ok(tympan_metrics::accuracy(m, labels)?)
}

/// Feature rows `[n, dim]` (row-major) with one class index each.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// Values.
    pub x: &'a [f32],
    /// Class of each row.
    pub labels: &'a [usize],
}

/// Train on `train`, evaluate on `test`.
pub fn fit(
    train: Rows<'_>,
    test: Rows<'_>,
    dim: usize,
    classes: usize,
    cfg: &ProbeConfig,
    device: &Device,
) -> Result<ProbeResult, TrainError> {
    let bad = TrainError::Probe;
    let (train, train_labels, test, test_labels) = (train.x, train.labels, test.x, test.labels);
    if dim == 0 || train.len() != train_labels.len() * dim || test.len() != test_labels.len() * dim
    {
        return Err(bad(format!(
            "{} training and {} test values do not match {} and {} labels of dimension {dim}",
            train.len(),
            test.len(),
            train_labels.len(),
            test_labels.len()
        )));
    }
    if let Some(l) = train_labels
        .iter()
        .chain(test_labels)
        .find(|&&l| l >= classes)
    {
        return Err(bad(format!("label {l} >= {classes} classes")));
    }
    // Per-dimension standardisation with the training statistics.
    let n = train_labels.len();
    let mut mean = vec![0f64; dim];
    let mut sq = vec![0f64; dim];
    for row in train.chunks(dim) {
        for (j, &v) in row.iter().enumerate() {
            mean[j] += v as f64;
            sq[j] += (v as f64) * (v as f64);
        }
    }
    let std: Vec<f64> = (0..dim)
        .map(|j| {
            mean[j] /= n.max(1) as f64;
            (sq[j] / n.max(1) as f64 - mean[j] * mean[j])
                .max(1e-12)
                .sqrt()
        })
        .collect();
    let norm = |x: &[f32]| -> Vec<f32> {
        x.chunks(dim)
            .flat_map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, &v)| ((v as f64 - mean[j]) / std[j]) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (train, test) = (norm(train), norm(test));
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let mut d = dim;
    let hidden = cfg
        .hidden
        .iter()
        .map(|&h| {
            let l = LinearConfig::new(d, h).init(&ad);
            d = h;
            l
        })
        .collect();
    let mut model = Mlp {
        hidden,
        out: LinearConfig::new(d, classes).init(&ad),
    };
    let mut optim: ModuleOptimizer = crate::optim::FusedAdam::default().init();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..cfg.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(cfg.batch_size.max(1)) {
            let xb: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| train[i * dim..(i + 1) * dim].iter().copied())
                .collect();
            let yb: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| (0..classes).map(move |k| f32::from(u8::from(k == train_labels[i]))))
                .collect();
            let b = chunk.len();
            let x = Tensor::<1>::from_floats(xb.as_slice(), &ad).reshape([b, dim]);
            let y = Tensor::<1>::from_floats(yb.as_slice(), &ad).reshape([b, classes]);
            let logits = model.forward(x);
            let loss = tympan_kernels::mean(crate::loss::soft_cross_entropy_per_sample(logits, y));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.lr, model.clone(), grads);
        }
    }
    let eval = model.valid();
    let probs = |x: &[f32], rows: usize| -> Result<Vec<f32>, TrainError> {
        let t = Tensor::<1>::from_floats(x, device).reshape([rows, dim]);
        tympan_kernels::softmax(eval.forward(t), 1)
            .into_data()
            .try_to_vec()
            .map_err(|e| bad(format!("{e:?}")))
    };
    let train_probs = probs(&train, n)?;
    let test_probs = probs(&test, test_labels.len())?;
    Ok(ProbeResult {
        train_accuracy: accuracy(&train_probs, train_labels, classes)?,
        test_accuracy: accuracy(&test_probs, test_labels, classes)?,
        test_probs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_clusters_are_learned() {
        // Three Gaussian-ish clusters in 4 dimensions, deterministic.
        let centre = |c: usize| [c as f32 * 3.0, -(c as f32), 1.0, 0.5 * c as f32];
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..150 {
            let c = i % 3;
            let jitter = ((i * 37 % 11) as f32 - 5.0) * 0.1;
            x.extend(centre(c).iter().map(|v| v + jitter));
            y.push(c);
        }
        let cfg = ProbeConfig {
            epochs: 20,
            ..Default::default()
        };
        let rows = |a: usize, b: usize| Rows {
            x: &x[a * 4..b * 4],
            labels: &y[a..b],
        };
        let r = fit(rows(0, 100), rows(100, 150), 4, 3, &cfg, &Device::flex()).unwrap();
        assert!(r.train_accuracy > 0.95 && r.test_accuracy > 0.95, "{r:?}");
        assert_eq!(r.test_probs.len(), 50 * 3);
        let short = Rows {
            x: &x[..400],
            labels: &y[..99],
        };
        let e = fit(short, rows(100, 150), 4, 3, &cfg, &Device::flex());
        assert!(e.is_err());
    }
}
