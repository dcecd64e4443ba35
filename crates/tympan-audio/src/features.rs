//! A row-major feature matrix `[frames, bins]`.

/// Features of one clip: `frames` rows of `bins` values, row-major (frame after frame), the
/// layout of torchaudio's `[time, freq]` fbank output.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// `frames * bins` values, frame-major.
    pub data: Vec<f32>,
    /// Number of frames (rows).
    pub frames: usize,
    /// Number of coefficients per frame (columns).
    pub bins: usize,
}

impl Features {
    /// Wrap `data` as `[frames, bins]`.
    ///
    /// # Panics
    /// When `data.len() != frames * bins` (a programming error, not a user input).
    pub fn new(data: Vec<f32>, frames: usize, bins: usize) -> Self {
        assert_eq!(
            data.len(),
            frames * bins,
            "feature buffer does not match its shape"
        );
        Self { data, frames, bins }
    }

    /// Row `t`.
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * self.bins..(t + 1) * self.bins]
    }

    /// Zero-pad at the end or cut to exactly `target` frames (PSLA's `ZeroPad2d` / slicing).
    pub fn pad_or_cut(&mut self, target: usize) {
        self.data.resize(target * self.bins, 0.0);
        self.frames = target;
    }

    /// `(x - mean) / std` on every value.
    pub fn normalize(&mut self, mean: f32, std: f32) {
        self.data.iter_mut().for_each(|v| *v = (*v - mean) / std);
    }

    /// Subtract each column's mean over frames (torchaudio's `_subtract_column_mean`).
    pub fn subtract_column_mean(&mut self) {
        if self.frames == 0 {
            return;
        }
        for b in 0..self.bins {
            let mean = (0..self.frames)
                .map(|t| self.data[t * self.bins + b] as f64)
                .sum::<f64>()
                / self.frames as f64;
            for t in 0..self.frames {
                self.data[t * self.bins + b] -= mean as f32;
            }
        }
    }

    /// Standardise each column (frequency channel) to zero mean and unit standard deviation over
    /// frames; constant columns become zero.
    pub fn standardize_columns(&mut self) {
        if self.frames == 0 {
            return;
        }
        let n = self.frames as f64;
        for b in 0..self.bins {
            let col = (0..self.frames).map(|t| self.data[t * self.bins + b] as f64);
            let mean = col.clone().sum::<f64>() / n;
            let var = col.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let std = var.sqrt();
            for t in 0..self.frames {
                let v = &mut self.data[t * self.bins + b];
                *v = if std > 0.0 {
                    ((*v as f64 - mean) / std) as f32
                } else {
                    0.0
                };
            }
        }
    }

    /// Split into consecutive non-overlapping patches of `patch` frames with a hop of `hop`
    /// frames; a trailing partial patch is dropped (VGGish's `frame`).
    pub fn patches(&self, patch: usize, hop: usize) -> Vec<Features> {
        if self.frames < patch || patch == 0 || hop == 0 {
            return Vec::new();
        }
        let n = 1 + (self.frames - patch) / hop;
        (0..n)
            .map(|i| {
                let s = i * hop * self.bins;
                Features::new(
                    self.data[s..s + patch * self.bins].to_vec(),
                    patch,
                    self.bins,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_cut_and_patches() {
        let mut f = Features::new((0..12).map(|v| v as f32).collect(), 4, 3);
        assert_eq!(f.frame(1), &[3.0, 4.0, 5.0]);
        let p = f.patches(2, 2);
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].data, vec![6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        f.pad_or_cut(5);
        assert_eq!(f.data.len(), 15);
        assert_eq!(&f.data[12..], &[0.0; 3]);
        f.pad_or_cut(1);
        assert_eq!(f.data, vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn standardize_and_mean() {
        let mut f = Features::new(vec![1.0, 5.0, 3.0, 5.0], 2, 2);
        f.standardize_columns();
        assert_eq!(f.data, vec![-1.0, 0.0, 1.0, 0.0]);
        let mut g = Features::new(vec![1.0, 2.0, 3.0, 6.0], 2, 2);
        g.subtract_column_mean();
        assert_eq!(g.data, vec![-1.0, -2.0, 1.0, 2.0]);
    }
}
