//! Learning-rate schedules.
//!
//! - PSLA (`src/traintest.py`): every 50 iterations during the first `warmup_iters`, the rate is
//!   set to `step / warmup_iters * lr` (so it is 0 for the first 50 steps, exactly as PSLA does),
//!   and `MultiStepLR(milestones = range(decay_from, 1000, every), gamma)` multiplies it after
//!   each milestone epoch.
//! - ReduceLROnPlateau on a validation metric (mode max), as Naranjo-Alcazar et al. use.
//! - Piecewise-constant by iteration, as Jeong & Lim use (1e-3 / 1e-4 / 1e-5).

use serde::{Deserialize, Serialize};

/// Which schedule, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// PSLA's warm-up then step decay every `every` epochs from `from_epoch`.
    Multistep {
        /// First milestone epoch (PSLA's `lrscheduler_start`).
        from_epoch: usize,
        /// Epochs between milestones (PSLA: 5).
        #[serde(default = "five")]
        every: usize,
        /// Factor per milestone (PSLA: 0.5).
        #[serde(default = "half")]
        gamma: f64,
    },
    /// Multiply by `factor` when the validation metric has not improved for `patience` epochs.
    Plateau {
        /// Factor (0.2 in Naranjo-Alcazar et al.).
        factor: f64,
        /// Epochs without improvement before a reduction.
        patience: usize,
    },
    /// `(iteration, lr)` pairs: the rate of the last pair whose iteration is `<=` the step.
    Piecewise {
        /// Breakpoints, ascending by iteration.
        points: Vec<(u64, f64)>,
    },
    /// Constant rate (after the warm-up).
    Constant,
}

fn five() -> usize {
    5
}
fn half() -> f64 {
    0.5
}

/// The schedule's state; serialisable so that a resumed run continues exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrState {
    /// Base learning rate.
    pub base_lr: f64,
    /// Warm-up iterations (PSLA: 1000; 0 disables).
    pub warmup_iters: u64,
    /// Schedule.
    pub schedule: Schedule,
    /// Plateau: current multiplier.
    pub plateau_scale: f64,
    /// Plateau: best metric so far.
    pub plateau_best: Option<f64>,
    /// Plateau: epochs since the best.
    pub plateau_bad_epochs: usize,
}

impl LrState {
    /// A fresh schedule.
    pub fn new(base_lr: f64, warmup_iters: u64, schedule: Schedule) -> Self {
        Self {
            base_lr,
            warmup_iters,
            schedule,
            plateau_scale: 1.0,
            plateau_best: None,
            plateau_bad_epochs: 0,
        }
    }

    /// Rate for iteration `step` (0-based, counted over the whole run) within `epoch` (1-based).
    pub fn lr(&self, step: u64, epoch: usize) -> f64 {
        let base = match &self.schedule {
            Schedule::Multistep {
                from_epoch,
                every,
                gamma,
            } => {
                // Milestones passed after `epoch - 1` completed epochs.
                let done = epoch.saturating_sub(1);
                let k = if done >= *from_epoch && *every > 0 {
                    (done - from_epoch) / every + 1
                } else {
                    0
                };
                self.base_lr * gamma.powi(k as i32)
            }
            Schedule::Plateau { .. } => self.base_lr * self.plateau_scale,
            Schedule::Piecewise { points } => points
                .iter()
                .take_while(|(it, _)| *it <= step)
                .last()
                .map(|(_, lr)| *lr)
                .unwrap_or(self.base_lr),
            Schedule::Constant => self.base_lr,
        };
        if step < self.warmup_iters {
            // PSLA: lr is re-set every 50 steps to (step / warmup) * lr.
            let quantum = 50u64.min(self.warmup_iters.max(1));
            let s = step / quantum * quantum;
            base * s as f64 / self.warmup_iters as f64
        } else {
            base
        }
    }

    /// Report the validation metric of an epoch (higher is better); plateau schedules react.
    pub fn end_epoch(&mut self, metric: f64) {
        if let Schedule::Plateau { factor, patience } = self.schedule {
            match self.plateau_best {
                Some(best) if metric <= best => {
                    self.plateau_bad_epochs += 1;
                    if self.plateau_bad_epochs > patience {
                        self.plateau_scale *= factor;
                        self.plateau_bad_epochs = 0;
                    }
                }
                _ => {
                    self.plateau_best = Some(metric);
                    self.plateau_bad_epochs = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psla_warmup_and_multistep() {
        let s = LrState::new(
            1e-3,
            1000,
            Schedule::Multistep {
                from_epoch: 10,
                every: 5,
                gamma: 0.5,
            },
        );
        assert_eq!(s.lr(0, 1), 0.0);
        assert_eq!(s.lr(49, 1), 0.0);
        assert!((s.lr(50, 1) - 5e-5).abs() < 1e-12);
        assert!((s.lr(999, 1) - 0.95e-3).abs() < 1e-12);
        assert_eq!(s.lr(1000, 1), 1e-3);
        // MultiStepLR(range(10, 1000, 5)): epochs 1-10 at lr, 11-15 at lr/2, 16-20 at lr/4.
        assert_eq!(s.lr(5000, 10), 1e-3);
        assert_eq!(s.lr(5000, 11), 5e-4);
        assert_eq!(s.lr(5000, 15), 5e-4);
        assert_eq!(s.lr(5000, 16), 2.5e-4);
    }

    #[test]
    fn plateau_reduces_after_patience() {
        let mut s = LrState::new(
            1e-3,
            0,
            Schedule::Plateau {
                factor: 0.2,
                patience: 2,
            },
        );
        s.end_epoch(0.5);
        s.end_epoch(0.4);
        s.end_epoch(0.5);
        assert_eq!(s.lr(0, 4), 1e-3);
        s.end_epoch(0.45);
        assert!((s.lr(0, 5) - 2e-4).abs() < 1e-15);
    }

    #[test]
    fn piecewise_by_iteration() {
        let s = LrState::new(
            1e-3,
            0,
            Schedule::Piecewise {
                points: vec![(0, 1e-3), (150_000, 1e-4), (250_000, 1e-5)],
            },
        );
        assert_eq!(s.lr(149_999, 1), 1e-3);
        assert_eq!(s.lr(150_000, 1), 1e-4);
        assert_eq!(s.lr(300_000, 1), 1e-5);
    }
}
