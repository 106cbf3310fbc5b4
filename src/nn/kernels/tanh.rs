//! A fast tanh for the CPU.
//!
//! Burn's CPU backends evaluate `tanh` with the C library's scalar `tanhf`,
//! one element at a time, and Burn's autodiff evaluates it a second time in
//! the backward pass, so tanh networks ran several times slower than relu
//! networks of the same shape (`benches/RACE.md`).
//!
//! [`tanh_f32`] is a rational function the compiler vectorises, within
//! 3 ulp. [`FastTanh`] runs it on Flex, and
//! its autodiff op keeps the output, so the backward pass is one fused pass
//! `grad · (1 − y²)` with no second tanh. The other backends keep Burn's own
//! `tanh` (ndarray is kept as Burn ships it; a GPU's tanh is already fast);
//! which backend runs which is said in `nn/backend.rs`, with the backends.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{DType, Tensor, TensorPrimitive};

use super::simd::simd_dispatch;

/// From atanh(1 − 2⁻²⁵) ≈ 9.0109 on, tanh rounds to ±1 in `f32` (within half
/// an ulp under 1): from there this returns ±1 exactly, as `tanhf` does.
const SATURATION: f32 = 9.0109;

/// Numerator `p(t)` and denominator `q(t)`, `t = x²`, of the convergent of
/// Lambert's continued fraction `tanh x = x/(1 + x²/(3 + x²/(5 + …)))` cut
/// after the term `2·13 + 1` (the [13/14] Padé approximant at 0), normalised
/// to `q(0) = 1`: exact rationals (a unit test rebuilds them from the
/// fraction). The truncation error is 3e-9 relative on [−9, 9]; the `f32`
/// evaluation adds a few ulp. Lowest degree first.
const NUMERATOR: [f64; 7] = [
    1.0,
    4.0 / 27.0,
    11.0 / 2025.0,
    8.0 / 108_675.0,
    2.0 / 4_890_375.0,
    8.0 / 9_198_795_375.0,
    1.0 / 2_032_933_777_875.0,
];
const DENOMINATOR: [f64; 8] = [
    1.0,
    13.0 / 27.0,
    22.0 / 675.0,
    11.0 / 15_525.0,
    2.0 / 326_025.0,
    2.0 / 92_917_125.0,
    4.0 / 156_379_521_375.0,
    1.0 / 213_458_046_676_875.0,
];

/// tanh(x) in `f32`, within 3 ulp of the exact value (the C library's
/// `tanhf`: 1 ulp), written so the compiler vectorises a loop of it: no
/// branches, one division. (Evaluated in `f64` it would be within an ulp,
/// but slower.) NaN stays NaN: diverged training must show.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let x = x.clamp(-SATURATION, SATURATION);
    let t = x * x;
    let p = NUMERATOR
        .iter()
        .rev()
        .fold(0.0f32, |p, &c| p.mul_add(t, c as f32));
    let q = DENOMINATOR
        .iter()
        .rev()
        .fold(0.0f32, |q, &c| q.mul_add(t, c as f32));
    // A select, not a branch: ±1 exactly where tanh rounds to ±1.
    if x.abs() < SATURATION {
        x * (p / q)
    } else {
        x.signum()
    }
}

/// tanh of a tensor through [`FastTanh`] (what the `tanh` activation runs).
pub fn fast_tanh<B: FastTanh, const D: usize>(z: Tensor<B, D>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(B::fast_tanh(
        z.into_primitive().tensor(),
    )))
}

/// tanh and its backward pass, as fast as a backend allows.
pub trait FastTanh: Backend {
    /// tanh of every element.
    fn fast_tanh(z: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_tanh(z)
    }

    /// `grad · (1 − y²)`, the gradient through `y = tanh(z)`.
    fn tanh_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        tanh_backward_by_ops::<Self>(output, grad)
    }
}

/// [`FastTanh::fast_tanh`] on Flex: [`tanh_f32`] in place where the tensor
/// is its own, in one pass.
pub(crate) fn flex_tanh(z: FlexTensor) -> FlexTensor {
    if z.dtype() != DType::F32 {
        return Flex::float_tanh(z);
    }
    let mut y = owned_contiguous(z);
    let n = y.layout().num_elements();
    let values = &mut y.storage_mut::<f32>()[..n];
    simd_dispatch!(for value in values.iter_mut() {
        *value = tanh_f32(*value)
    });
    y
}

/// [`FastTanh::tanh_backward`] on Flex: one pass, in place in the gradient.
pub(crate) fn flex_tanh_backward(output: FlexTensor, grad: FlexTensor) -> FlexTensor {
    if output.dtype() != DType::F32
        || grad.dtype() != DType::F32
        || output.layout().shape() != grad.layout().shape()
    {
        return tanh_backward_by_ops::<Flex>(output, grad);
    }
    let output = output.to_contiguous();
    let mut grad = owned_contiguous(grad);
    let n = grad.layout().num_elements();
    let y = &output.storage::<f32>()[..n];
    let grad_values = &mut grad.storage_mut::<f32>()[..n];
    simd_dispatch!(for (g, &y) in grad_values.iter_mut().zip(y) {
        *g *= 1.0 - y * y
    });
    grad
}

/// `grad · (1 − y²)` in Burn's element-wise ops: three passes.
fn tanh_backward_by_ops<B: Backend>(
    output: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let slope = B::float_add_scalar(
        B::float_neg(B::float_mul(output.clone(), output)),
        1f32.into(),
    );
    B::float_mul(grad, slope)
}

/// The tensor itself where it can be written in place (sole owner,
/// contiguous, from the start of its buffer), else a contiguous copy.
fn owned_contiguous(tensor: FlexTensor) -> FlexTensor {
    let layout = tensor.layout();
    if tensor.is_unique() && layout.is_contiguous() && layout.start_offset() == 0 {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// The autodiff op: the output is the backward pass's state.
#[derive(Debug)]
struct TanhBackward;

impl<B: FastTanh> Backward<B, 1> for TanhBackward {
    type State = FloatTensor<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let output = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::tanh_backward(output, grad)
        });
    }
}

impl<B: FastTanh, C: CheckpointStrategy> FastTanh for Autodiff<B, C> {
    fn fast_tanh(z: FloatTensor<Self>) -> FloatTensor<Self> {
        match TanhBackward
            .prepare::<C>([z.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = B::fast_tanh(z.primitive);
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fast_tanh(z.primitive)),
        }
    }
    // `tanh_backward` keeps the default (Burn's ops): only differentiating
    // twice would reach it here, which nothing does.
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn tanh_f32_matches_the_library_tanh_everywhere() {
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4; // [−20, 20]
            let exact = (x as f64).tanh();
            let error = (tanh_f32(x) as f64 - exact).abs() / exact.abs().max(1e-30);
            worst = worst.max(if x == 0.0 { 0.0 } else { error });
        }
        // Three f32 ulp at most (one is 2^-23 = 1.2e-7 relative).
        assert!(
            worst <= 3.0 * f64::from(f32::EPSILON),
            "worst relative error {worst:e}"
        );
        assert_eq!(tanh_f32(1e-30), 1e-30);
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(-50.0), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
    }

    /// Folds the continued fraction from its last term, `b_13 = 27`, up:
    /// `b_k + x²/(n/d) = (b_k·n + x²·d)/n`; then tanh x = x·d/n.
    #[test]
    fn the_coefficients_are_the_convergent_of_lamberts_fraction() {
        let mut numerator = vec![27.0f64];
        let mut denominator = vec![1.0f64];
        for k in (0..13).rev() {
            let mut next: Vec<f64> = numerator.iter().map(|c| c * (2 * k + 1) as f64).collect();
            next.resize(denominator.len() + 1, 0.0);
            for (i, c) in denominator.iter().enumerate() {
                next[i + 1] += c;
            }
            denominator = std::mem::replace(&mut numerator, next);
        }
        let scale = numerator[0];
        for (expected, actual) in denominator
            .iter()
            .zip(NUMERATOR)
            .chain(numerator.iter().zip(DENOMINATOR))
        {
            assert!(
                (expected / scale - actual).abs() <= 1e-14 * actual,
                "{} vs {actual}",
                expected / scale
            );
        }
        assert_eq!(
            (denominator.len(), numerator.len()),
            (NUMERATOR.len(), DENOMINATOR.len())
        );
    }

    fn values(tensor: Tensor<Flex, 2>) -> Vec<f32> {
        tensor.into_data().to_vec().unwrap()
    }

    #[test]
    fn flex_tanh_and_its_gradient_match_burns_ops() {
        type A = Autodiff<Flex>;
        let data: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) * 0.21).collect();
        let weights: Vec<f32> = (0..60).map(|i| 1.0 + (i % 7) as f32).collect();
        let device = Default::default();
        let run = |fast: bool| {
            let z = Tensor::<A, 2>::from_data(TensorData::new(data.clone(), [6, 10]), &device)
                .require_grad();
            let y = if fast {
                fast_tanh(z.clone())
            } else {
                z.clone().tanh()
            };
            let weights =
                Tensor::<A, 2>::from_data(TensorData::new(weights.clone(), [6, 10]), &device);
            let gradients = (y.clone() * weights).sum().backward();
            (values(y.inner()), values(z.grad(&gradients).unwrap()))
        };
        let (fast_y, fast_grad) = run(true);
        let (burn_y, burn_grad) = run(false);
        for (a, b) in fast_y.iter().zip(&burn_y) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "tanh {a} vs {b}");
        }
        // Both gradients are weight · (1 − y²): near saturation the subtraction
        // turns the few-ulp difference of y into ~1e-6 (weights up to 7).
        for (a, b) in fast_grad.iter().zip(&burn_grad) {
            assert!(
                (a - b).abs() <= 5e-6 * b.abs().max(1.0),
                "gradient {a} vs {b}"
            );
        }
    }

    #[test]
    fn a_strided_view_is_not_written_through() {
        let device = Default::default();
        let z = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![0.5f32, -1.0, 2.0, 3.0], [2, 2]),
            &device,
        );
        let transposed = z.clone().transpose();
        let y = fast_tanh(transposed);
        assert_eq!(values(z), vec![0.5, -1.0, 2.0, 3.0]);
        let expected = [
            0.5f32.tanh(),
            2.0f32.tanh(),
            (-1.0f32).tanh(),
            3.0f32.tanh(),
        ];
        for (a, b) in values(y).iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
