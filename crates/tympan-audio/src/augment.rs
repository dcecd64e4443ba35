//! Seeded data augmentations as pure functions. Every random choice comes from the `rng` the
//! caller passes, so a seed reproduces a run.

use rand::Rng;
use rand_distr::{Beta, Distribution};

use crate::error::{AudioError, Result};
use crate::features::Features;

fn mask_span<R: Rng + ?Sized>(size: usize, mask_param: usize, rng: &mut R) -> (usize, usize) {
    // torchaudio.functional.mask_along_axis:
    //   value = rand() * mask_param; min_value = rand() * (size - value)
    //   start = long(min_value); end = long(min_value) + long(value)
    let value = rng.random::<f64>() * mask_param as f64;
    let min_value = rng.random::<f64>() * (size as f64 - value);
    let start = (min_value.max(0.0) as usize).min(size);
    let end = (start + value as usize).min(size);
    (start, end)
}

/// `torchaudio.transforms.TimeMasking(mask_param)`: zero a run of up to `mask_param` frames.
/// Returns the masked range.
pub fn time_mask<R: Rng + ?Sized>(
    f: &mut Features,
    mask_param: usize,
    rng: &mut R,
) -> std::ops::Range<usize> {
    let (s, e) = mask_span(f.frames, mask_param, rng);
    f.data[s * f.bins..e * f.bins]
        .iter_mut()
        .for_each(|v| *v = 0.0);
    s..e
}

/// `torchaudio.transforms.FrequencyMasking(mask_param)`: zero a run of up to `mask_param` bins in
/// every frame. Returns the masked range.
pub fn freq_mask<R: Rng + ?Sized>(
    f: &mut Features,
    mask_param: usize,
    rng: &mut R,
) -> std::ops::Range<usize> {
    let (s, e) = mask_span(f.bins, mask_param, rng);
    for t in 0..f.frames {
        f.data[t * f.bins + s..t * f.bins + e]
            .iter_mut()
            .for_each(|v| *v = 0.0);
    }
    s..e
}

/// Draw `lambda ~ Beta(alpha, alpha)`.
pub fn beta_lambda<R: Rng + ?Sized>(alpha: f64, rng: &mut R) -> Result<f64> {
    let b = Beta::new(alpha, alpha).map_err(|e| {
        AudioError::InvalidOptions(format!("mixup alpha must be positive, got {alpha}: {e}"))
    })?;
    Ok(b.sample(rng))
}

fn remove_mean(x: &mut [f32]) {
    let m = (x.iter().map(|&v| v as f64).sum::<f64>() / x.len().max(1) as f64) as f32;
    x.iter_mut().for_each(|v| *v -= m);
}

/// PSLA's waveform mixup (`_wav2fbank` with two files): both waveforms lose their mean, the
/// partner is zero-padded or cut to the first one's length, they are mixed as
/// `lambda x1 + (1 - lambda) x2`, and the mix loses its mean.
pub fn psla_mix_waveforms(x1: &[f32], x2: &[f32], lambda: f64) -> Vec<f32> {
    let mut a = x1.to_vec();
    let mut b = x2.to_vec();
    remove_mean(&mut a);
    remove_mean(&mut b);
    let mut mix = mix_waveforms(&a, &b, lambda);
    remove_mean(&mut mix);
    mix
}

/// `lambda x1 + (1 - lambda) x2`, the partner zero-padded or cut to the first one's length, and
/// nothing else: Jeong & Lim's eq. (2) mixes the peak-normalised clips as they are (no mean
/// removal), before the scale augmentation ([`scale_augment`]).
pub fn mix_waveforms(x1: &[f32], x2: &[f32], lambda: f64) -> Vec<f32> {
    let l = lambda as f32;
    let partner = x2.iter().copied().chain(std::iter::repeat(0.0));
    x1.iter()
        .zip(partner)
        .map(|(p, q)| l * p + (1.0 - l) * q)
        .collect()
}

/// PSLA's soft mixup labels: `lambda` is added for each label of clip 1 and `1 - lambda` for
/// each label of clip 2 (a label of both gets 1).
pub fn psla_mix_labels(y1: &[f32], y2: &[f32], lambda: f64) -> Vec<f32> {
    y1.iter()
        .zip(y2)
        .map(|(&a, &b)| (a as f64 * lambda + b as f64 * (1.0 - lambda)) as f32)
        .collect()
}

/// Whether to mix this sample, with probability `rate` (PSLA's `random.random() < mixup`).
pub fn should_mix<R: Rng + ?Sized>(rate: f64, rng: &mut R) -> bool {
    rng.random::<f64>() < rate
}

/// One of Chen et al.'s mix-training pairs: `alpha ~ U(0.4, 0.6)`, the mix
/// `alpha x_i + (1 - alpha) x_j` (partner zero-padded or cut), labelled `sign(y_i + y_j)`.
pub fn mix_training_pair<R: Rng + ?Sized>(
    xi: &[f32],
    xj: &[f32],
    yi: &[f32],
    yj: &[f32],
    rng: &mut R,
) -> (Vec<f32>, Vec<f32>, f64) {
    let alpha = rng.random_range(0.4..0.6);
    let (x, y) = mix_training_with(alpha, xi, xj, yi, yj);
    (x, y, alpha)
}

/// [`mix_training_pair`] at a given `alpha`: the mix and its label `sign(y_i + y_j)`.
pub fn mix_training_with(
    alpha: f64,
    xi: &[f32],
    xj: &[f32],
    yi: &[f32],
    yj: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let a = alpha as f32;
    let x = xi
        .iter()
        .enumerate()
        .map(|(k, &v)| a * v + (1.0 - a) * xj.get(k).copied().unwrap_or(0.0))
        .collect();
    let y = yi
        .iter()
        .zip(yj)
        .map(|(&p, &q)| if p + q > 0.0 { 1.0 } else { 0.0 })
        .collect();
    (x, y)
}

/// Jeong & Lim's mixup: `lambda ~ Beta(alpha, alpha)` folded onto `lambda > 0.5` (the clip keeps
/// the majority), so the mix `lambda x1 + (1 - lambda) x2` is dominated by `x1`.
pub fn jeong_lim_lambda<R: Rng + ?Sized>(alpha: f64, rng: &mut R) -> Result<f64> {
    let l = beta_lambda(alpha, rng)?;
    Ok(l.max(1.0 - l))
}

/// `x / max|x|` (Jeong & Lim's eq. (2) normalises each clip to its peak before mixing and
/// scaling); a silent clip is returned as it is.
pub fn peak_normalized(x: &[f32]) -> Vec<f32> {
    let peak = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if peak > 0.0 && peak.is_finite() {
        x.iter().map(|v| v / peak).collect()
    } else {
        x.to_vec()
    }
}

/// Scale augmentation applied to a mixed clip: multiply by a gain drawn uniformly in
/// `[low, high]`. Returns the gain. With [`peak_normalized`] clips this is Jeong & Lim's
/// eq. (2): `w (lambda x1 / max|x1| + (1 - lambda) x2 / max|x2|)`.
pub fn scale_augment<R: Rng + ?Sized>(
    x: &mut [f32],
    low: f64,
    high: f64,
    rng: &mut R,
) -> Result<f64> {
    if !(low > 0.0 && low <= high) {
        return Err(AudioError::InvalidOptions(format!(
            "scale range must satisfy 0 < low <= high, got [{low}, {high}]"
        )));
    }
    let g = if low == high {
        low
    } else {
        rng.random_range(low..high)
    };
    x.iter_mut().for_each(|v| *v *= g as f32);
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn masks_stay_in_bounds_and_are_seeded() {
        let mut a = Features::new(vec![1.0; 100 * 8], 100, 8);
        let mut b = a.clone();
        let ra = time_mask(&mut a, 30, &mut StdRng::seed_from_u64(1));
        let rb = time_mask(&mut b, 30, &mut StdRng::seed_from_u64(1));
        assert_eq!(ra, rb);
        assert!(ra.end - ra.start <= 30 && ra.end <= 100);
        let zeros = a.data.iter().filter(|&&v| v == 0.0).count();
        assert_eq!(zeros, (ra.end - ra.start) * 8);
        let fr = freq_mask(&mut a, 8, &mut StdRng::seed_from_u64(3));
        assert!(fr.end <= 8);
        for t in 0..100 {
            for k in fr.clone() {
                assert_eq!(a.frame(t)[k], 0.0);
            }
        }
    }

    #[test]
    fn jeong_lim_mix_keeps_the_mean_and_fits_the_partner_to_the_clip() {
        // No mean removal: a constant clip mixed with a constant partner stays constant.
        assert_eq!(mix_waveforms(&[1.0; 4], &[-1.0; 4], 0.75), vec![0.5; 4]);
        // A shorter partner is zero-padded, a longer one cut.
        assert_eq!(
            mix_waveforms(&[1.0, 1.0, 1.0], &[2.0], 0.5),
            vec![1.5, 0.5, 0.5]
        );
        assert_eq!(mix_waveforms(&[0.0], &[2.0, 4.0], 0.5), vec![1.0]);
    }

    #[test]
    fn psla_mixup_matches_hand_computation() {
        let x1 = [1.0, 2.0, 3.0];
        let x2 = [4.0, 0.0];
        // means removed: [-1, 0, 1] and [2, -2] -> padded [2, -2, 0]
        // 0.75 * x1 + 0.25 * x2 = [-0.25, -0.5, 0.75], mean 0 -> unchanged
        let m = psla_mix_waveforms(&x1, &x2, 0.75);
        for (a, b) in m.iter().zip([-0.25, -0.5, 0.75]) {
            assert!((a - b).abs() < 1e-6);
        }
        let y = psla_mix_labels(&[1.0, 0.0, 1.0], &[0.0, 1.0, 1.0], 0.75);
        assert_eq!(y, vec![0.75, 0.25, 1.0]);
    }

    #[test]
    fn mix_training_labels_are_the_union() {
        let mut r = StdRng::seed_from_u64(0);
        let (x, y, a) = mix_training_pair(
            &[1.0, 1.0],
            &[0.0],
            &[1.0, 0.0, 0.0],
            &[0.0, 1.0, 0.0],
            &mut r,
        );
        assert!((0.4..0.6).contains(&a));
        assert_eq!(y, vec![1.0, 1.0, 0.0]);
        assert!((x[1] - a as f32).abs() < 1e-6);
    }

    #[test]
    fn jeong_lim_lambda_is_majority_and_scale_checks_range() {
        let mut r = StdRng::seed_from_u64(5);
        for _ in 0..200 {
            assert!(jeong_lim_lambda(0.4, &mut r).unwrap() >= 0.5);
        }
        let mut x = vec![1.0, -2.0];
        let g = scale_augment(&mut x, 0.5, 2.0, &mut r).unwrap();
        assert!((x[1] + 2.0 * g as f32).abs() < 1e-6);
        assert!(scale_augment(&mut x, 0.0, 1.0, &mut r).is_err());
        assert!(beta_lambda(-1.0, &mut r).is_err());
    }

    #[test]
    fn peak_normalized_has_unit_peak_and_keeps_silence() {
        let x = peak_normalized(&[0.1, -0.4, 0.2]);
        assert_eq!(x, vec![0.25, -1.0, 0.5]);
        assert_eq!(peak_normalized(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
