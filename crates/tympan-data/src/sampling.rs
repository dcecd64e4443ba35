//! Seeded, reproducible samplers. Each gives the clip order of one epoch from `(seed, epoch)`,
//! so a run can be resumed at any epoch and reproduces the same order.

use rand::distr::{Distribution, weighted::WeightedIndex};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::error::{DataError, Result};

fn epoch_rng(seed: u64, epoch: u64) -> StdRng {
    StdRng::seed_from_u64(crate::seed::stream(seed, epoch.wrapping_add(1)))
}

/// Every clip once per epoch, reshuffled each epoch.
pub fn uniform_epoch(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut epoch_rng(seed, epoch));
    order
}

/// `draws` indices from consecutive shuffles of `0..n`, the first being [`uniform_epoch`]'s: an
/// epoch shorter than the set is a prefix of its shuffle, a longer one goes on with fresh
/// shuffles (seeded apart). Empty when `n` is 0.
pub fn uniform_draws(n: usize, draws: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order = Vec::with_capacity(draws);
    let mut round = 0u64;
    while order.len() < draws && n > 0 {
        let s = crate::seed::advance(seed, round);
        order.extend(uniform_epoch(n, s, epoch));
        round += 1;
    }
    order.truncate(draws);
    order
}

/// PSLA's balanced-sampling weights (Algorithm 1, `egs/audioset/gen_weight_file.py`) of clips
/// given by their class indices: with `c_k` the number of clips labelled `k`, clip `i` weighs
/// `sum_{k in labels[i]} 1000 / (c_k + 0.01)`, summed in the order of `labels[i]`.
///
/// # Panics
/// When a label is not below `num_classes`.
pub fn psla_weights(labels: &[Vec<usize>], num_classes: usize) -> Vec<f64> {
    let mut counts = vec![0.0f64; num_classes];
    for &k in labels.iter().flatten() {
        counts[k] += 1.0;
    }
    let class_weight: Vec<f64> = counts.iter().map(|&c| 1000.0 / (c + 0.01)).collect();
    labels
        .iter()
        .map(|idx| idx.iter().map(|&k| class_weight[k]).sum())
        .collect()
}

/// PSLA's balanced sampling (`WeightedRandomSampler(weights, num_samples, replacement=True)` over
/// the weights of [`crate::psla_sample_weights`]): `draws` multinomial draws with replacement.
pub fn weighted_epoch(weights: &[f64], draws: usize, seed: u64, epoch: u64) -> Result<Vec<usize>> {
    let dist = WeightedIndex::new(weights).map_err(|e| format!("invalid sampling weights: {e}"))?;
    let mut rng = epoch_rng(seed, epoch);
    Ok((0..draws).map(|_| dist.sample(&mut rng)).collect())
}

/// Jeong & Lim's class-balanced batches: each batch holds one clip of every class (drawn without
/// replacement within a class until it is exhausted, then reshuffled). `labels[i]` is clip `i`'s
/// class; `batches` batches of `num_classes` clips are returned. Classes without clips are errors.
pub fn class_balanced_batches(
    labels: &[usize],
    num_classes: usize,
    batches: usize,
    seed: u64,
    epoch: u64,
) -> Result<Vec<Vec<usize>>> {
    let mut pools: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        pools
            .get_mut(l)
            .ok_or_else(|| format!("clip {i} has class {l} >= {num_classes}"))?
            .push(i);
    }
    if let Some(c) = pools.iter().position(Vec::is_empty) {
        return Err(DataError::Mismatch(format!("class {c} has no clips")));
    }
    let mut rng = epoch_rng(seed, epoch);
    let mut cursors = vec![0usize; num_classes];
    pools.iter_mut().for_each(|p| p.shuffle(&mut rng));
    let mut out = Vec::with_capacity(batches);
    for _ in 0..batches {
        let mut batch = Vec::with_capacity(num_classes);
        for (c, pool) in pools.iter_mut().enumerate() {
            if cursors[c] == pool.len() {
                pool.shuffle(&mut rng);
                cursors[c] = 0;
            }
            batch.push(pool[cursors[c]]);
            cursors[c] += 1;
        }
        batch.shuffle(&mut rng);
        out.push(batch);
    }
    Ok(out)
}

/// Balanced draws on multi-label data (Chen et al.: "each class equally frequent in a batch"):
/// draw `t` takes class `order[t]`, where `order` runs through all classes with clips in a fresh
/// random order each round, and then the next clip of that class's shuffled pool (reshuffled
/// when it runs out). A clip with several labels sits in the pool of each, so in any run of
/// `classes` consecutive draws every class comes up exactly once. `labels[i]` are clip `i`'s
/// classes; clips without labels are never drawn. Errors when no clip has a label.
pub fn label_balanced_epoch(
    labels: &[Vec<usize>],
    num_classes: usize,
    draws: usize,
    seed: u64,
    epoch: u64,
) -> Result<Vec<usize>> {
    let mut pools: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (i, ls) in labels.iter().enumerate() {
        for &l in ls {
            pools
                .get_mut(l)
                .ok_or_else(|| format!("clip {i} has class {l} >= {num_classes}"))?
                .push(i);
        }
    }
    let classes: Vec<usize> = (0..num_classes).filter(|&c| !pools[c].is_empty()).collect();
    if classes.is_empty() {
        return Err(DataError::Mismatch("no clip has a label".into()));
    }
    let mut rng = epoch_rng(seed, epoch);
    pools.iter_mut().for_each(|p| p.shuffle(&mut rng));
    let mut cursors = vec![0usize; num_classes];
    let mut round = classes.clone();
    let mut out = Vec::with_capacity(draws);
    while out.len() < draws {
        round.shuffle(&mut rng);
        for &c in &round {
            if out.len() == draws {
                break;
            }
            if cursors[c] == pools[c].len() {
                pools[c].shuffle(&mut rng);
                cursors[c] = 0;
            }
            out.push(pools[c][cursors[c]]);
            cursors[c] += 1;
        }
    }
    Ok(out)
}

/// A mixup partner drawn uniformly from `n` clips (PSLA: `random.randint(0, len-1)`, which may
/// pick the clip itself).
pub fn mixup_partner<R: Rng + ?Sized>(n: usize, rng: &mut R) -> usize {
    rng.random_range(0..n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_a_reproducible_permutation() {
        let a = uniform_epoch(100, 7, 0);
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(a, uniform_epoch(100, 7, 0));
        assert_ne!(a, uniform_epoch(100, 7, 1));
    }

    #[test]
    fn uniform_draws_are_prefixes_and_continuations_of_the_shuffle() {
        let full = uniform_epoch(10, 3, 2);
        assert_eq!(uniform_draws(10, 10, 3, 2), full);
        assert_eq!(uniform_draws(10, 4, 3, 2), full[..4]);
        let long = uniform_draws(10, 25, 3, 2);
        assert_eq!(long.len(), 25);
        assert_eq!(long[..10], full);
        let mut second = long[10..20].to_vec();
        second.sort_unstable();
        assert_eq!(second, (0..10).collect::<Vec<_>>());
        assert_ne!(long[10..20], full);
        assert!(uniform_draws(0, 5, 3, 2).is_empty());
    }

    #[test]
    fn weighted_follows_weights() {
        // Clip 1 is 9x as likely as clip 0; clip 2 never drawn.
        let d = weighted_epoch(&[1.0, 9.0, 0.0], 20_000, 3, 0).unwrap();
        let ones = d.iter().filter(|&&i| i == 1).count() as f64 / d.len() as f64;
        assert!((ones - 0.9).abs() < 0.01, "{ones}");
        assert!(!d.contains(&2));
        assert_eq!(d, weighted_epoch(&[1.0, 9.0, 0.0], 20_000, 3, 0).unwrap());
        assert!(weighted_epoch(&[0.0, 0.0], 5, 0, 0).is_err());
    }

    #[test]
    fn class_balanced_has_one_of_each() {
        let labels = [0, 0, 0, 1, 2, 2];
        let b = class_balanced_batches(&labels, 3, 10, 1, 0).unwrap();
        for batch in &b {
            let mut cls: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
            cls.sort_unstable();
            assert_eq!(cls, vec![0, 1, 2]);
        }
        // Class 0's three clips are all used within three batches.
        let mut first3: Vec<usize> = b[..3]
            .iter()
            .flatten()
            .filter(|&&i| labels[i] == 0)
            .copied()
            .collect();
        first3.sort_unstable();
        assert_eq!(first3, vec![0, 1, 2]);
        assert!(class_balanced_batches(&labels, 4, 1, 0, 0).is_err());
    }

    #[test]
    fn label_balanced_draws_every_class_once_per_round() {
        // Class 0 is common (clips 0-7), class 1 rare (clip 8 only, also labelled 0), class 2
        // on clip 9; clip 10 has no label.
        let mut labels: Vec<Vec<usize>> = (0..8).map(|_| vec![0]).collect();
        labels.push(vec![0, 1]);
        labels.push(vec![2]);
        labels.push(vec![]);
        let order = label_balanced_epoch(&labels, 3, 30, 5, 1).unwrap();
        assert_eq!(order.len(), 30);
        assert!(!order.contains(&10));
        for round in order.chunks(3) {
            // Class 2's draw can only be clip 9 and class 1's only clip 8; class 0 never
            // gives clip 9. So every round holds clip 9 once and clip 8 at least once.
            assert_eq!(round.iter().filter(|&&i| i == 9).count(), 1, "{round:?}");
            assert!(round.contains(&8), "{round:?}");
        }
        assert_eq!(order, label_balanced_epoch(&labels, 3, 30, 5, 1).unwrap());
        assert_ne!(order, label_balanced_epoch(&labels, 3, 30, 5, 2).unwrap());
        assert!(label_balanced_epoch(&[vec![]], 3, 3, 0, 0).is_err());
    }
}
