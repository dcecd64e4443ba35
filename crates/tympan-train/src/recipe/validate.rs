//! The checks a recipe passes before any data is read: each error names the key and the value.

use super::{Dataset, EvalInput, InputKind, Recipe, Validation};
use crate::schedule::Schedule;

impl Recipe {
    /// Values the types alone do not rule out.
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.train.validate_every == Some(0) {
            return Err("train.validate_every must be at least 1 (or left out)".into());
        }
        let t = &self.train;
        if t.batch_size == 0 || t.epochs == 0 || t.eval_batch_size == 0 {
            return Err(
                "train.batch_size, train.epochs and train.eval_batch_size must be positive".into(),
            );
        }
        if let Some((lo, hi)) = t.scale
            && !(lo > 0.0 && lo <= hi)
        {
            return Err(format!(
                "train.scale must satisfy 0 < low <= high, got [{lo}, {hi}]"
            ));
        }
        if let Some(r) = t.loss_mask
            && !(r > 0.0 && r <= 1.0)
        {
            return Err(format!("train.loss_mask is a ratio in (0, 1], got {r}"));
        }
        if !(t.l2_weights >= 0.0 && t.l2_weights.is_finite()) {
            return Err(format!(
                "train.l2_weights must be >= 0, got {}",
                t.l2_weights
            ));
        }
        if !(0.0..=1.0).contains(&t.mixup) {
            return Err(format!("train.mixup is a rate in [0, 1], got {}", t.mixup));
        }
        if self.optim.lr.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err("optim.lr must be positive".into());
        }
        if let Some(m) = self.model.bn_momentum
            && !(0.0..=1.0).contains(&m)
        {
            return Err(format!("model.bn_momentum must lie in [0, 1], got {m}"));
        }
        if let Some(x) = self.data.test_fraction
            && !(x > 0.0 && x < 1.0)
        {
            return Err(format!("data.test_fraction lies in (0, 1), got {x}"));
        }
        if self.features.eval_input == EvalInput::Whole
            && self.features.input != InputKind::Waveform
        {
            return Err(
                "features.eval_input = \"whole\" is for features.input = \"waveform\"".into(),
            );
        }
        if let Some(share) = self.features.fit_length {
            if !(share > 0.0 && share <= 1.0) {
                return Err(format!(
                    "features.fit_length is a share of the clips in (0, 1], got {share}"
                ));
            }
            if self.features.input == InputKind::Vggish {
                return Err(
                    "features.fit_length: VGGish input scores every patch of a clip, its length is a patch's".into(),
                );
            }
        }
        match self.data.validation() {
            Validation::Fraction(f) if !(f > 0.0 && f < 1.0) => {
                return Err(format!("data.valid.fraction lies in (0, 1), got {f}"));
            }
            Validation::Fold(k) if self.data.test_fold == Some(k) => {
                return Err(format!(
                    "data.valid.fold = {k} is also data.test_fold: validation must not be the test split"
                ));
            }
            Validation::Datafile(_) if self.data.dataset != Dataset::Audioset => {
                return Err("data.valid.datafile is for dataset = \"audioset\"".into());
            }
            Validation::Cv { folds, index } if folds < 2 || index >= folds => {
                return Err(format!(
                    "data.valid.cv needs folds >= 2 and index in 0..folds, got folds = {folds}, index = {index}"
                ));
            }
            Validation::None if matches!(self.optim.schedule, Schedule::Plateau { .. }) => {
                return Err(
                    "data.valid = \"none\" leaves the plateau schedule nothing to read: choose a step or cosine schedule, or a validation split".into(),
                );
            }
            Validation::None if self.train.validate_every.is_some() => {
                return Err(
                    "data.valid = \"none\" has no split for train.validate_every to score".into(),
                );
            }
            Validation::Official if self.data.dataset != Dataset::Fsd50k => {
                return Err(format!(
                    "data.valid = \"official\": {} has no official validation split; use {{ fraction = 0.1 }} or {{ fold = N }}",
                    self.data.dataset
                ));
            }
            _ => {}
        }
        if let (Some(s), Some(e)) = (self.aggregate.wa_start, self.aggregate.wa_end)
            && (s == 0 || s > e || e > t.epochs)
        {
            return Err(format!(
                "aggregate.wa_start..wa_end must lie within 1..={}, got {s}..{e}",
                t.epochs
            ));
        }
        Ok(())
    }
}
