//! Parameter counts as PyTorch and Keras report them, and parameter gradients as host vectors.

use burn::module::Module;
use burn::prelude::*;

/// Number of BatchNorm running-statistic values (running mean and variance) in a model.
fn running_stat_count<M: Module>(model: &M) -> usize {
    struct Running {
        n: usize,
        path: Vec<String>,
    }
    impl burn::module::ModuleVisitor for Running {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if self
                .path
                .last()
                .is_some_and(|l| l == "running_mean" || l == "running_var")
            {
                self.n += param.val().shape().num_elements();
            }
        }
    }
    let mut v = Running {
        n: 0,
        path: Vec::new(),
    };
    model.visit(&mut v);
    v.n
}

/// Every parameter gradient of `model` in `grads` (parameters without one skipped), in the
/// module's visiting order, as host vectors: what gradient checks compare between two runs of
/// a step (tympan's kernels against Burn's own ops, tests/golden_models.rs).
pub fn parameter_gradients<M: Module>(model: &M, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
    struct Grads<'a> {
        grads: &'a burn::tensor::Gradients,
        out: Vec<Vec<f32>>,
    }
    impl burn::module::ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if let Some(g) = param.grad(self.grads) {
                self.out.push(g.into_data().iter::<f32>().collect());
            }
        }
    }
    let mut v = Grads {
        grads,
        out: Vec::new(),
    };
    model.visit(&mut v);
    v.out
}

/// Number of trainable parameters, as PyTorch's `sum(p.numel() for p in model.parameters())`
/// counts them (Burn's `Module::num_params` also counts BatchNorm running statistics).
pub fn num_params<M: Module>(model: &M) -> usize {
    model.num_params() - running_stat_count(model)
}

/// Parameter count as Keras reports it: trainable parameters plus BatchNorm running mean and
/// variance (non-trainable parameters in Keras). The M34-res papers quote this count.
pub fn keras_param_count<M: Module>(model: &M) -> usize {
    num_params(model) + running_stat_count(model)
}
