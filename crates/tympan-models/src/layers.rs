//! Small layers shared by several architectures.

use std::cell::Cell;

use burn::prelude::*;

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

thread_local! {
    /// State of the stochastic-depth mask generator (splitmix64), one per thread: data-parallel
    /// shards run their forward passes on threads of their own at the same time, and a shared
    /// state would hand them masks in whatever order the threads happen to draw.
    static DROP_PATH_STATE: Cell<u64> = const { Cell::new(GOLDEN_GAMMA) };
}

/// Reseed the drop-connect masks drawn on this thread. Training loops call this at every epoch so
/// that a run resumed from a checkpoint draws the same masks as an uninterrupted one (Burn 0.22's
/// device RNG is not reset reproducibly by `Device::seed` on every backend), and at the start of
/// each data-parallel shard's forward pass, with a seed from [`fork_drop_path_seed`].
pub fn seed_drop_path(seed: u64) {
    DROP_PATH_STATE.with(|s| s.set(seed));
}

/// A seed drawn from this thread's mask stream, for a forward pass on another thread: the
/// training step draws one per batch and gives shard `i` `seed + i`, so the masks depend on the
/// recipe's seed, the epoch, the batch and the shard, never on thread timing.
pub fn fork_drop_path_seed() -> u64 {
    splitmix64()
}

fn splitmix64() -> u64 {
    let mut z = DROP_PATH_STATE.with(|s| {
        let z = s.get().wrapping_add(GOLDEN_GAMMA);
        s.set(z);
        z
    });
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn next_uniform() -> f64 {
    (splitmix64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Stochastic depth ("drop connect" in `efficientnet_pytorch/utils.py::drop_connect`): in
/// training, each sample's residual branch is zeroed with probability `p` and the survivors are
/// scaled by `1 / (1 - p)`. Identity at inference (no autodiff device) and when `p == 0`.
#[derive(Module, Debug)]
pub struct DropPath {
    /// Drop probability.
    #[module(skip)]
    pub prob: f64,
}

impl DropPath {
    /// A drop path with probability `prob`.
    pub fn new(prob: f64) -> Self {
        Self { prob }
    }

    /// Apply to a batch-first tensor.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.prob <= 0.0 || !x.device().is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        let batch = x.dims()[0];
        // efficientnet_pytorch: floor(keep + U[0, 1)) per sample.
        let mask: Vec<f32> = (0..batch)
            .map(|_| {
                if next_uniform() < keep {
                    1.0 / keep as f32
                } else {
                    0.0
                }
            })
            .collect();
        let mut shape = [1usize; D];
        shape[0] = batch;
        let mask = Tensor::<1>::from_floats(mask.as_slice(), &x.device()).reshape(shape);
        x * mask
    }
}

/// Re-initialise `model` as Keras does by default: every `weight` of rank >= 2 (conv kernels,
/// linear weights) Glorot-uniform, `U(-l, l)` with `l = sqrt(6 / (fan_in + fan_out))`, and every
/// `bias` zero; BatchNorm parameters are left alone. Naranjo-Alcazar et al. train M34-res this
/// way (Sec. 4). The fans of a `[a, b, k...]` kernel are `a * prod(k)` and `b * prod(k)` whichever
/// axis is the input (their sum is what matters), so Burn's `[in, out]` linear layout and
/// `[out, in, k]` conv layout need no distinction. Values come from a splitmix64 stream seeded by
/// `seed`, so the initialisation is the same on every backend.
pub fn glorot_uniform<M: Module>(model: M, seed: u64) -> M {
    struct Glorot {
        path: Vec<String>,
        state: u64,
    }
    impl Glorot {
        fn next_unit(&mut self) -> f32 {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32
        }
    }
    impl burn::module::ModuleMapper for Glorot {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let last = self.path.last().map(String::as_str).unwrap_or("");
            // The new values are new leaves: they keep the parameter's `require_grad`, or an
            // autodiff model would train with its kernels and biases frozen.
            if last == "bias" {
                return param.map(|t| {
                    let grad = t.is_require_grad();
                    t.zeros_like().set_require_grad(grad)
                });
            }
            if last != "weight" || D < 2 {
                return param;
            }
            param.map(|t| {
                let grad = t.is_require_grad();
                let dims = t.dims();
                let receptive: usize = dims[2..].iter().product();
                let fans = (dims[0] + dims[1]) * receptive;
                let limit = (6.0 / fans as f64).sqrt() as f32;
                let n = t.shape().num_elements();
                let values: Vec<f32> = (0..n)
                    .map(|_| (2.0 * self.next_unit() - 1.0) * limit)
                    .collect();
                Tensor::<1>::from_floats(values.as_slice(), &t.device())
                    .reshape(dims)
                    .set_require_grad(grad)
            })
        }
    }
    model.map(&mut Glorot {
        path: Vec::new(),
        state: seed,
    })
}

#[cfg(test)]
mod glorot_tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::nn::conv::Conv1dConfig;

    #[test]
    fn glorot_bounds_and_zero_bias() {
        let device = Device::default();
        let conv = glorot_uniform(Conv1dConfig::new(4, 6, 3).init(&device), 7);
        let w: Vec<f32> = conv.weight.val().into_data().try_to_vec().unwrap();
        let limit = (6.0f32 / ((4 + 6) * 3) as f32).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        // Spread over the range, not stuck near zero.
        assert!(w.iter().any(|v| v.abs() > 0.8 * limit));
        let b: Vec<f32> = conv.bias.unwrap().val().into_data().try_to_vec().unwrap();
        assert!(b.iter().all(|v| *v == 0.0));
        let lin = glorot_uniform(LinearConfig::new(10, 30).init(&device), 7);
        let w: Vec<f32> = lin.weight.val().into_data().try_to_vec().unwrap();
        let limit = (6.0f32 / 40.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        assert!(mean.abs() < 0.1 * limit, "{mean}");
        // On an autodiff device the new kernels and biases still train (the M-net kill test
        // found them frozen: `Param::map` keeps the flag, not the new tensor's state).
        let ad = Device::default().autodiff();
        let conv = glorot_uniform(Conv1dConfig::new(4, 6, 3).init(&ad), 7);
        assert!(conv.weight.val().is_require_grad());
        assert!(conv.bias.as_ref().unwrap().val().is_require_grad());
        let lin = glorot_uniform(LinearConfig::new(10, 30).init(&ad), 7);
        assert!(lin.weight.val().is_require_grad());
        // Seeded: the same twice.
        let again = glorot_uniform(LinearConfig::new(10, 30).init(&device), 7);
        assert_eq!(
            again.weight.val().into_data().try_to_vec::<f32>().unwrap(),
            w
        );
    }
}

#[cfg(test)]
mod drop_path_tests {
    use super::*;

    /// Two threads seeded alike draw the same masks while drawing at the same time, and a thread
    /// drawing elsewhere does not move this thread's stream (the shards of a data-parallel step).
    #[test]
    fn mask_streams_are_per_thread() {
        let draw = |seed: u64| {
            seed_drop_path(seed);
            (0..1000).map(|_| next_uniform()).collect::<Vec<_>>()
        };
        let (a, b, c) = std::thread::scope(|s| {
            let a = s.spawn(|| draw(42));
            let b = s.spawn(|| draw(42));
            let c = s.spawn(|| draw(43));
            (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
        });
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|u| (0.0..1.0).contains(u)));
        // The stream is splitmix64 from the seed, as before the state became per-thread.
        seed_drop_path(0);
        assert_eq!(splitmix64(), 0xE220_A839_7B1D_CDAF);
        seed_drop_path(7);
        let fork = fork_drop_path_seed();
        seed_drop_path(7);
        assert_eq!(splitmix64(), fork);
    }
}
