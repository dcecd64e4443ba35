//! Matrix products through [`MatmulKernels`]: on flex, [`crate::gemm`]'s blocking, whose bits do
//! not depend on the CPU's vector width; every other backend runs `matmul` / `Linear::forward`
//! unchanged.

use burn::backend::Dispatch;
use burn::nn::Linear;
use burn::prelude::*;

use super::matmul_ops::MatmulKernels;
use super::uses_kernels;

/// `a.matmul(b)` for `a [m, k]` and `b [k, n]`.
pub fn matmul(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    if !uses_kernels(&a.device()) {
        return a.matmul(b);
    }
    Tensor::from_dispatch(<Dispatch as MatmulKernels>::tympan_matmul(
        a.into_dispatch(),
        b.into_dispatch(),
    ))
}

/// `linear.forward(x)` for `x [..., d_input]`: the leading axes flattened into the rows of one
/// [`matmul`], the bias added through [`crate::expand`] (its gradient a fixed-order sum).
pub fn linear<const D: usize>(linear: &Linear, x: Tensor<D>) -> Tensor<D> {
    if !uses_kernels(&x.device()) {
        return linear.forward(x);
    }
    let weight = linear.weight.val();
    let [d_in, d_out] = weight.dims();
    let dims = x.dims();
    assert_eq!(
        dims[D - 1],
        d_in,
        "linear: input {dims:?} does not end in d_input {d_in}"
    );
    let rows = dims[..D - 1].iter().product::<usize>();
    let y = matmul(x.reshape([rows, d_in]), weight);
    let y = match &linear.bias {
        Some(b) => {
            let shape = y.shape();
            y + crate::expand(b.val().reshape([1, d_out]), shape)
        }
        None => y,
    };
    let mut out = dims;
    out[D - 1] = d_out;
    y.reshape(out)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::nn::LinearConfig;

    use super::*;
    use crate::test_util::assert_close;

    fn vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// [`linear`] against `Linear::forward` (Burn's matmul) on the same weights and inputs:
    /// output and the gradients of x, weight and bias under the loss `sum(y * r)`. Shapes: a
    /// product deeper than gemm.rs's `DEPTH_BLOCK`, one row times one column (the dot product
    /// summed in gemm.rs), a rank-3 input, a small product whose input gradient has gemm's
    /// dot-product layout. Tolerance: 2e-5 of the largest magnitude of each (float32 sums in
    /// another order).
    #[test]
    fn linear_matches_burns_linear_and_its_gradients() {
        let device = Device::flex().autodiff();
        let cases: [(&[usize], usize, bool); 4] = [
            (&[4, 700], 3, true),
            (&[1, 600], 1, false),
            (&[2, 5, 600], 7, true),
            (&[3, 20], 6, true),
        ];
        for (shape, d_out, bias) in cases {
            let d_in = shape[shape.len() - 1];
            let layer = LinearConfig::new(d_in, d_out).with_bias(bias).init(&device);
            let run = |f: &dyn Fn(Tensor<3>) -> Tensor<3>| {
                let dims = [
                    shape[..shape.len() - 1].iter().product::<usize>() / shape[0],
                    shape[0],
                    d_in,
                ];
                let x = Tensor::<3>::from_data(
                    TensorData::new(
                        (0..dims.iter().product::<usize>())
                            .map(|i| (i as f32 * 0.37).sin())
                            .collect(),
                        dims,
                    ),
                    &device,
                )
                .require_grad();
                let y = f(x.clone());
                let r = Tensor::<3>::from_data(
                    TensorData::new(
                        (0..y.dims().iter().product::<usize>())
                            .map(|i| (i as f32 * 0.11).cos())
                            .collect(),
                        y.dims(),
                    ),
                    &device,
                );
                let g = (y.clone() * r).sum().backward();
                let mut out = vec![
                    vec(y),
                    vec(x.grad(&g).unwrap()),
                    vec(layer.weight.grad(&g).unwrap()),
                ];
                if let Some(b) = &layer.bias {
                    out.push(vec(b.grad(&g).unwrap()));
                }
                out
            };
            let ours = run(&|x| linear(&layer, x));
            let burn = run(&|x| layer.forward(x));
            assert_close(&format!("{shape:?} -> {d_out}"), &ours, &burn);
        }
    }
}
