//! The affine map `h·W + b` of every dense layer, as one operation.
//!
//! Written in Burn's tensor ops, a layer's affine map is a matrix product and
//! a broadcast sum: two autodiff nodes, an intermediate tensor, and in the
//! backward pass a reduction over the points for the bias. For the deep,
//! narrow networks of a fixed budget (width 5–8 at depths 24–64) each of
//! those costs more than the arithmetic (a 2000×5×5 product is 50k
//! multiply-adds), and Burn's autodiff merges graphs per node.
//! [`FastAffine`] makes the map one node with one backward pass. On Flex it
//! runs the loops of `narrow.rs` where both sides of a product are narrow,
//! those of `thin.rs` where one side is thin, and otherwise `gemm` (the
//! crate Flex itself uses) on the tensors' own strides: the product
//! accumulates onto the bias, and the backward pass computes the three
//! gradients without copies. The other backends run the same formula in
//! Burn's ops (which backend runs which is said in `nn/backend.rs`, with
//! the backends).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorCreationOptions, TensorPrimitive};

use super::flex::{flex_f32, Matrix, Operand};
use super::simd::simd_dispatch;
use super::{columns, narrow, thin};

/// `input·weight + bias` per member, through [`FastAffine`].
///
/// # Shapes
/// - input: `[members, points, fan_in]`
/// - weight: `[members, fan_in, fan_out]`
/// - bias: `[members, 1, fan_out]`
/// - output: `[members, points, fan_out]`
pub fn fast_affine<B: FastAffine>(
    input: Tensor<B, 3>,
    weight: &Tensor<B, 3>,
    bias: &Tensor<B, 3>,
) -> Tensor<B, 3> {
    let output = B::affine(
        input.into_primitive().tensor(),
        weight.clone().into_primitive().tensor(),
        bias.clone().into_primitive().tensor(),
    );
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// The gradients of an affine map with respect to its input, weight and
/// bias, each computed only where asked for.
pub type AffineGradients<B> = [Option<FloatTensor<B>>; 3];

/// The affine map and its backward pass, as fast as a backend allows. The
/// defaults are Burn's ops.
pub trait FastAffine: Backend {
    /// `input·weight + bias` (shapes as in [`fast_affine`]).
    fn affine(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        affine_by_ops::<Self>(input, weight, bias)
    }

    /// From the output's gradient `grad`: `grad·weightᵀ`, `inputᵀ·grad` and
    /// the sum of `grad` over the points, where `needed` asks for them.
    fn affine_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        needed: [bool; 3],
    ) -> AffineGradients<Self> {
        affine_backward_by_ops::<Self>(input, weight, grad, needed)
    }
}

fn tensor<B: Backend>(primitive: FloatTensor<B>) -> Tensor<B, 3> {
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

fn affine_by_ops<B: Backend>(
    input: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
) -> FloatTensor<B> {
    (tensor::<B>(input).matmul(tensor(weight)) + tensor(bias))
        .into_primitive()
        .tensor()
}

/// The bias gradient is the product of a row of ones with `grad`: a matrix
/// product, which burn-ndarray runs faster than its sum over the points
/// axis.
fn affine_backward_by_ops<B: Backend>(
    input: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    [input_needed, weight_needed, bias_needed]: [bool; 3],
) -> AffineGradients<B> {
    let grad = tensor::<B>(grad);
    let input_grad = input_needed.then(|| grad.clone().matmul(tensor(weight).swap_dims(1, 2)));
    let weight_grad =
        weight_needed.then(|| tensor::<B>(input).swap_dims(1, 2).matmul(grad.clone()));
    let bias_grad = bias_needed.then(|| {
        let [members, points, _] = grad.dims();
        let options = TensorCreationOptions::new(grad.device()).with_dtype(grad.dtype());
        Tensor::<B, 3>::ones([members, 1, points], options).matmul(grad)
    });
    [input_grad, weight_grad, bias_grad].map(|grad| grad.map(|grad| grad.into_primitive().tensor()))
}

// ---------------------------------------------------------------------------
// Flex: `gemm` on the tensors' strides.

/// `[members, points, fan_in, fan_out]` where the three tensors are `f32`
/// with matching shapes and no empty axis: `other` is the bias
/// `[members, 1, fan_out]`, or with `other_per_point` the gradient
/// `[members, points, fan_out]`. `None` sends them to Burn's ops.
fn affine_dims(
    input: &FlexTensor,
    weight: &FlexTensor,
    other: &FlexTensor,
    other_per_point: bool,
) -> Option<[usize; 4]> {
    let all_f32 = [input, weight, other]
        .iter()
        .all(|t| t.dtype() == DType::F32 && t.layout().num_dims() == 3);
    if !all_f32 {
        return None;
    }
    let (x, w, o) = (
        input.layout().shape(),
        weight.layout().shape(),
        other.layout().shape(),
    );
    let dims = [x[0], x[1], x[2], w[2]];
    let other_rows = if other_per_point { x[1] } else { 1 };
    let shapes_fit = x[0] == w[0] && x[2] == w[1] && [o[0], o[1], o[2]] == [x[0], other_rows, w[2]];
    (shapes_fit && dims.iter().all(|&d| d > 0)).then_some(dims)
}

/// `dst (+)= lhs·rhs`, with `dst` row-major `lhs.rows() × rhs.cols()`;
/// `accumulate` adds to what `dst` holds. Panics on mismatched shapes.
fn gemm_into(dst: &mut [f32], accumulate: bool, lhs: Matrix, rhs: Matrix) {
    let [p, k, n] = [lhs.rows(), lhs.cols(), rhs.cols()];
    assert_eq!(rhs.rows(), k, "inner dimensions of a product");
    assert_eq!(dst.len(), p * n, "the product's output");
    let ([lhs_row, lhs_col], [rhs_row, rhs_col]) = (lhs.strides(), rhs.strides());
    // SAFETY: `dst` holds p×n row-major elements (asserted above), and a
    // `Matrix` addresses only elements inside its buffer (checked where it
    // was made), so gemm reads and writes in bounds. `dst` is a unique
    // borrow and the operands shared ones, so they do not overlap.
    // Sequential: the workers already run networks side by side, as Flex's
    // own matmul does without its rayon feature.
    unsafe {
        gemm::gemm(
            p,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.ptr(),
            lhs_col,
            lhs_row,
            rhs.ptr(),
            rhs_col,
            rhs_row,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Whether [`affine_rows`] and [`affine_rows_backward`] take a layer of
/// these fans without `gemm`: its products are narrow or thin.
pub(crate) fn without_gemm([fan_in, fan_out]: [usize; 2]) -> bool {
    narrow::fits(fan_in, fan_out) || thin::fits(fan_in, fan_out)
}

/// Each member's matrix of `operand` as row-major rows, where `fits` (a
/// kernel of `narrow.rs` or `thin.rs` takes the product) and the rows are
/// stored so.
fn rows_where<'a>(
    fits: bool,
    operand: &'a Operand<'a>,
    members: usize,
    rows: usize,
    cols: usize,
) -> Option<impl Fn(usize) -> &'a [f32] + 'a> {
    let stored = || (0..members).all(|member| operand.rows(member, rows, cols).is_some());
    (fits && stored())
        .then_some(move |member: usize| operand.rows(member, rows, cols).expect("checked above"))
}

/// [`thin::product_into`] into a new vector, for a small matrix `m` read
/// through `at` (row-major copied), `start` through `start`.
fn thin_product(
    a: &[f32],
    [inner, outer]: [usize; 2],
    at: impl Fn(usize, usize) -> f32,
    start: impl Fn(usize) -> f32,
) -> Vec<f32> {
    let m: Vec<f32> = (0..inner * outer)
        .map(|k| at(k / outer, k % outer))
        .collect();
    let start: Vec<f32> = (0..outer).map(start).collect();
    let mut out = vec![0.0f32; a.len() / inner * outer];
    thin::product_into(
        a,
        [inner, outer],
        thin::Stored::Rows(&m),
        Some(&start),
        &mut out,
    );
    out
}

/// Each member's values in turn (one member's own vector where there is one).
fn per_member_concat(members: usize, values: impl Fn(usize) -> Vec<f32>) -> Vec<f32> {
    if members == 1 {
        return values(0);
    }
    let mut all = Vec::new();
    (0..members).for_each(|member| all.extend_from_slice(&values(member)));
    all
}

/// [`FastAffine::affine`] on Flex: each output row starts as the bias, and
/// `gemm` accumulates the product onto it.
pub(crate) fn flex_affine(input: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
    let Some([members, points, fan_in, fan_out]) = affine_dims(&input, &weight, &bias, false)
    else {
        return affine_by_ops::<burn::backend::Flex>(input, weight, bias);
    };
    let (x, w, b) = (
        Operand::of(&input),
        Operand::of(&weight),
        Operand::of(&bias),
    );
    if let Some(x_rows) = rows_where(narrow::fits(fan_in, fan_out), &x, members, points, fan_in) {
        let output = per_member_concat(members, |member| {
            narrow::product(
                x_rows(member),
                fan_in,
                fan_out,
                |i, j| w.at(member, i, j),
                |j| b.at(member, 0, j),
            )
        });
        return flex_f32(output, [members, points, fan_out]);
    }
    let thin = thin::fits(fan_in, fan_out);
    if let Some(x_rows) = rows_where(thin, &x, members, points, fan_in) {
        let output = per_member_concat(members, |member| {
            thin_product(
                x_rows(member),
                [fan_in, fan_out],
                |i, j| w.at(member, i, j),
                |j| b.at(member, 0, j),
            )
        });
        return flex_f32(output, [members, points, fan_out]);
    }
    let mut output = Vec::with_capacity(members * points * fan_out);
    for member in 0..members {
        let bias_row: Vec<f32> = (0..fan_out).map(|unit| b.at(member, 0, unit)).collect();
        for _ in 0..points {
            output.extend_from_slice(&bias_row);
        }
    }
    for (member, dst) in output.chunks_exact_mut(points * fan_out).enumerate() {
        gemm_into(dst, true, x.matrix(member), w.matrix(member));
    }
    flex_f32(output, [members, points, fan_out])
}

/// [`FastAffine::affine_backward`] on Flex: two strided `gemm` calls (the
/// transposes are strides, not copies) and a sum of rows.
pub(crate) fn flex_affine_backward(
    input: FlexTensor,
    weight: FlexTensor,
    grad: FlexTensor,
    needed: [bool; 3],
) -> AffineGradients<burn::backend::Flex> {
    let Some([members, points, fan_in, fan_out]) = affine_dims(&input, &weight, &grad, true) else {
        return affine_backward_by_ops::<burn::backend::Flex>(input, weight, grad, needed);
    };
    let (x, w, g) = (
        Operand::of(&input),
        Operand::of(&weight),
        Operand::of(&grad),
    );
    let narrow = narrow::fits(fan_in, fan_out);
    let narrow_operands = rows_where(narrow, &x, members, points, fan_in)
        .zip(rows_where(narrow, &g, members, points, fan_out));
    if let Some((x_rows, g_rows)) = narrow_operands {
        let input_grad = needed[0].then(|| {
            let data = per_member_concat(members, |member| {
                narrow::product(
                    g_rows(member),
                    fan_out,
                    fan_in,
                    |j, i| w.at(member, i, j),
                    |_| 0.0,
                )
            });
            flex_f32(data, [members, points, fan_in])
        });
        let (mut weight_grad, mut bias_grad) = (Vec::new(), Vec::new());
        if needed[1] || needed[2] {
            for member in 0..members {
                let (product, sums) = narrow::transposed_product_and_sum(
                    x_rows(member),
                    fan_in,
                    g_rows(member),
                    fan_out,
                );
                weight_grad.extend(product);
                bias_grad.extend(sums);
            }
        }
        let weight_grad = needed[1].then(|| flex_f32(weight_grad, [members, fan_in, fan_out]));
        let bias_grad = needed[2].then(|| flex_f32(bias_grad, [members, 1, fan_out]));
        return [input_grad, weight_grad, bias_grad];
    }
    let per_member = |rows: usize, cols: usize, fill: &dyn Fn(usize, &mut [f32])| {
        let mut data = vec![0.0f32; members * rows * cols];
        data.chunks_exact_mut(rows * cols)
            .enumerate()
            .for_each(|(member, dst)| fill(member, dst));
        flex_f32(data, [members, rows, cols])
    };
    let input_grad = needed[0].then(|| {
        let thin = thin::fits(fan_out, fan_in);
        if let Some(g_rows) = rows_where(thin, &g, members, points, fan_out) {
            let data = per_member_concat(members, |member| {
                let transposed = |j: usize, i: usize| w.at(member, i, j);
                thin_product(g_rows(member), [fan_out, fan_in], transposed, |_| 0.0)
            });
            return flex_f32(data, [members, points, fan_in]);
        }
        // grad·Wᵀ: Wᵀ is W read with its strides swapped.
        per_member(points, fan_in, &|member, dst| {
            gemm_into(dst, false, g.matrix(member), w.matrix(member).transposed());
        })
    });
    let thin = thin::fits(fan_in, fan_out) && (needed[1] || needed[2]);
    let thin_operands = rows_where(thin, &x, members, points, fan_in)
        .zip(rows_where(thin, &g, members, points, fan_out));
    if let Some((x_rows, g_rows)) = thin_operands {
        // Both gradients in one pass: the weight's and the bias's.
        let mut weight_grad = vec![0.0f32; members * fan_in * fan_out];
        let mut bias_grad = vec![0.0f32; members * fan_out];
        let members_grads = weight_grad
            .chunks_exact_mut(fan_in * fan_out)
            .zip(bias_grad.chunks_exact_mut(fan_out));
        for (member, (weights, biases)) in members_grads.enumerate() {
            let (x_rows, g_rows) = (x_rows(member), g_rows(member));
            thin::add_transposed_product_and_sum(
                x_rows,
                g_rows,
                [fan_in, fan_out],
                weights,
                biases,
            );
        }
        let weight_grad = needed[1].then(|| flex_f32(weight_grad, [members, fan_in, fan_out]));
        let bias_grad = needed[2].then(|| flex_f32(bias_grad, [members, 1, fan_out]));
        return [input_grad, weight_grad, bias_grad];
    }
    let weight_grad = needed[1].then(|| {
        per_member(fan_in, fan_out, &|member, dst| {
            gemm_into(dst, false, x.matrix(member).transposed(), g.matrix(member));
        })
    });
    let bias_grad = needed[2].then(|| {
        // Row by row, in the order of a reduction over the points axis.
        per_member(
            1,
            fan_out,
            &|member, dst| match g.rows(member, points, fan_out) {
                Some(rows) => sum_rows(rows, dst),
                None => (0..points).for_each(|point| {
                    dst.iter_mut()
                        .enumerate()
                        .for_each(|(unit, sum)| *sum += g.at(member, point, unit))
                }),
            },
        )
    });
    [input_grad, weight_grad, bias_grad]
}

// ---------------------------------------------------------------------------
// One member's row-major matrices: the passes on host vectors (`nn/stack.rs`).

/// `input·weight + bias` for one member into `output`: `input` is
/// `points × fan_in` and `weight` `fan_in × fan_out`, both row-major,
/// `bias` `fan_out` long; `output` becomes `points × fan_out`, row-major
/// (resized only when its length differs). The kernels of [`flex_affine`],
/// called the same way: the same bits.
pub(crate) fn affine_rows(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    [fan_in, fan_out]: [usize; 2],
    output: &mut Vec<f32>,
) {
    let points = input.len() / fan_in;
    output.resize(points * fan_out, 0.0);
    if narrow::fits(fan_in, fan_out) {
        let at = |i: usize, j: usize| weight[i * fan_out + j];
        narrow::product_into(input, fan_in, fan_out, at, |j| bias[j], output);
        return;
    }
    if thin::fits(fan_in, fan_out) {
        let weight = thin::Stored::Rows(weight);
        thin::product_into(input, [fan_in, fan_out], weight, Some(bias), output);
        return;
    }
    repeat_rows(bias, output);
    let (x, w) = (
        Matrix::row_major(input, points, fan_in),
        Matrix::row_major(weight, fan_in, fan_out),
    );
    gemm_into(output, true, x, w);
}

/// `row` repeated over `output`: the first copy, then the copies so far
/// copied after themselves, so a narrow row costs a few long copies
/// instead of one short copy per row.
fn repeat_rows(row: &[f32], output: &mut [f32]) {
    if output.len() < row.len() {
        return;
    }
    output[..row.len()].copy_from_slice(row);
    let mut filled = row.len();
    while filled < output.len() {
        let copied = filled.min(output.len() - filled);
        output.copy_within(..copied, filled);
        filled += copied;
    }
}

/// The gradients of [`affine_rows`] from the output's gradient `grad`
/// (`points × fan_out`), as [`flex_affine_backward`] computes them: the
/// input's into `input_grad` (where given; resized only when its length
/// differs), the weight's and the bias's into theirs, or added to them
/// with `accumulate` (the rows of one batch taken block by block).
pub(crate) fn affine_rows_backward(
    input: &[f32],
    weight: &[f32],
    grad: &[f32],
    [fan_in, fan_out]: [usize; 2],
    mut input_grad: Option<&mut Vec<f32>>,
    [weight_grad, bias_grad]: [&mut Vec<f32>; 2],
    accumulate: bool,
) {
    let points = grad.len() / fan_out;
    if narrow::fits(fan_in, fan_out) {
        if let Some(input_grad) = input_grad {
            input_grad.resize(points * fan_in, 0.0);
            let transposed = |j: usize, i: usize| weight[i * fan_out + j];
            narrow::product_into(grad, fan_out, fan_in, transposed, |_| 0.0, input_grad);
        }
        let (weights, biases) = narrow::transposed_product_and_sum(input, fan_in, grad, fan_out);
        if accumulate {
            weight_grad
                .iter_mut()
                .zip(weights)
                .for_each(|(sum, w)| *sum += w);
            bias_grad
                .iter_mut()
                .zip(biases)
                .for_each(|(sum, b)| *sum += b);
        } else {
            (*weight_grad, *bias_grad) = (weights, biases);
        }
        return;
    }
    // A single output, as the checkerboard's logit: both gradients in one
    // pass over the input.
    let one_pass = fan_out == 1 && thin::fits(fan_in, fan_out) && input_grad.is_some();
    let g = || Matrix::row_major(grad, points, fan_out);
    if let Some(input_grad) = input_grad.as_deref_mut() {
        input_grad.resize(points * fan_in, 0.0);
        if one_pass {
            // Below, with the weight's gradient.
        } else if thin::fits(fan_out, fan_in) {
            let transposed = thin::Stored::Columns(weight);
            thin::product_into(grad, [fan_out, fan_in], transposed, None, input_grad);
        } else {
            let w = Matrix::row_major(weight, fan_in, fan_out);
            gemm_into(input_grad, false, g(), w.transposed());
        }
    }
    if !accumulate {
        weight_grad.clear();
        bias_grad.clear();
    }
    weight_grad.resize(fan_in * fan_out, 0.0);
    bias_grad.resize(fan_out, 0.0);
    if let (true, Some(input_grad)) = (one_pass, input_grad) {
        thin::dot_backward([input, grad, weight], [input_grad, weight_grad]);
        grad.iter().for_each(|g| bias_grad[0] += g);
        return;
    }
    if thin::fits(fan_in, fan_out) {
        thin::add_transposed_product_and_sum(
            input,
            grad,
            [fan_in, fan_out],
            weight_grad,
            bias_grad,
        );
        return;
    }
    let x = Matrix::row_major(input, points, fan_in);
    gemm_into(weight_grad, accumulate, x.transposed(), g());
    sum_rows(grad, bias_grad);
}

/// Adds the rows of the row-major `rows` (each `sums.len()` long) to `sums`.
///
/// A narrow row (5 units) is too short to vectorise, so blocks of
/// `ROWS_PER_BLOCK` rows are summed as long rows first, then folded.
fn sum_rows(rows: &[f32], sums: &mut [f32]) {
    const ROWS_PER_BLOCK: usize = 16;
    let width = sums.len();
    let block = ROWS_PER_BLOCK * width;
    let mut partial = vec![0.0f32; block];
    let mut blocks = rows.chunks_exact(block);
    simd_dispatch!({
        for chunk in &mut blocks {
            for (sum, value) in partial.iter_mut().zip(chunk) {
                *sum += value;
            }
        }
        for row in partial
            .chunks_exact(width)
            .chain(blocks.remainder().chunks_exact(width))
        {
            for (sum, value) in sums.iter_mut().zip(row) {
                *sum += value;
            }
        }
    });
}

// ---------------------------------------------------------------------------
// One member's matrices stored in chunks of points: the fused training
// loop, for networks whose layers are all narrow (`columns.rs`).

/// [`affine_rows`] with `input` (`fan_in` units) and `output` (`fan_out`
/// units) stored in chunks of points, as `columns.rs` lays them out: the
/// same sums, the same bits.
pub(crate) fn affine_chunks(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    [fan_in, fan_out]: [usize; 2],
    output: &mut Vec<f32>,
) {
    output.resize(input.len() / fan_in * fan_out, 0.0);
    let at = |i: usize, j: usize| weight[i * fan_out + j];
    columns::product_into(input, [fan_in, fan_out], at, Some(bias), output);
}

/// [`affine_rows_backward`] with `input`, `grad` and `input_grad` stored in
/// chunks, as [`affine_chunks`] takes them, over `points` points (the
/// last chunk's padding left out). The input's gradient has
/// [`affine_rows_backward`]'s bits; the weight's and the bias's sum over
/// the points in `columns.rs`'s order.
pub(crate) fn affine_chunks_backward(
    input: &[f32],
    weight: &[f32],
    grad: &[f32],
    [fan_in, fan_out, points]: [usize; 3],
    input_grad: Option<&mut Vec<f32>>,
    [weight_grad, bias_grad]: [&mut Vec<f32>; 2],
    accumulate: bool,
) {
    if let Some(input_grad) = input_grad {
        input_grad.resize(grad.len() / fan_out * fan_in, 0.0);
        let transposed = |j: usize, i: usize| weight[i * fan_out + j];
        columns::product_into(grad, [fan_out, fan_in], transposed, None, input_grad);
    }
    if !accumulate {
        weight_grad.clear();
        bias_grad.clear();
    }
    weight_grad.resize(fan_in * fan_out, 0.0);
    bias_grad.resize(fan_out, 0.0);
    let fans = [fan_in, fan_out];
    columns::add_transposed_product_and_sum(input, grad, fans, points, weight_grad, bias_grad);
}

// ---------------------------------------------------------------------------
// Autodiff: one node, whose backward pass is `affine_backward`.

/// The autodiff op: the input and weight are the backward pass's state.
#[derive(Debug)]
struct AffineBackward;

impl<B: FastAffine> Backward<B, 3> for AffineBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (input, weight) = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let needed = ops.parents.each_ref().map(Option::is_some);
        let computed = B::affine_backward(input, weight, grad, needed);
        for (parent, grad) in ops.parents.into_iter().zip(computed) {
            if let (Some(parent), Some(grad)) = (parent, grad) {
                grads.register::<B>(parent.id, grad);
            }
        }
    }
}

impl<B: FastAffine, C: CheckpointStrategy> FastAffine for Autodiff<B, C> {
    fn affine(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [input.node.clone(), weight.node.clone(), bias.node.clone()];
        match AffineBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = (input.primitive.clone(), weight.primitive.clone());
                prep.finish(
                    state,
                    B::affine(input.primitive, weight.primitive, bias.primitive),
                )
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::affine(input.primitive, weight.primitive, bias.primitive))
            }
        }
    }
    // `affine_backward` keeps the default (Burn's ops): only differentiating
    // twice would reach it here, which nothing does.
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Flex, NdArray};
    use burn::tensor::TensorData;

    fn values(members: usize, rows: usize, cols: usize, salt: usize) -> TensorData {
        let data: Vec<f32> = (0..members * rows * cols)
            .map(|i| (((i * 37 + salt * 11) % 23) as f32 - 11.0) * 0.13)
            .collect();
        TensorData::new(data, [members, rows, cols])
    }

    #[test]
    fn repeated_rows_fill_every_row() {
        let row = [1.5, -2.0, 3.25];
        for rows in 0..10 {
            let mut output = vec![0.0; rows * row.len()];
            repeat_rows(&row, &mut output);
            assert_eq!(output, row.repeat(rows), "{rows} rows");
        }
    }

    fn assert_close<Bk: Backend>(actual: Tensor<Bk, 3>, expected: Tensor<Bk, 3>, what: &str) {
        assert_eq!(actual.dims(), expected.dims(), "{what}");
        let (actual, expected) = (
            actual.into_data().to_vec::<f32>().unwrap(),
            expected.into_data().to_vec::<f32>().unwrap(),
        );
        for (a, e) in actual.iter().zip(&expected) {
            assert!(
                (a - e).abs() <= 1e-5 * e.abs().max(1.0),
                "{what}: {a} vs {e}"
            );
        }
    }

    /// The fused op and Burn's ops give the same output and the same three
    /// gradients, for an input broadcast over members (stride 0, as the
    /// network's input is), a transposed one and a flipped one.
    fn the_op_and_its_gradients_match_burns_ops<Inner: FastAffine>() {
        let device = Default::default();
        let (members, points, fan_in, fan_out) = (3, 17, 4, 6);
        let broadcast =
            Tensor::<Autodiff<Inner>, 3>::from_data(values(1, points, fan_in, 1), &device)
                .expand([members, points, fan_in]);
        let transposed =
            Tensor::<Autodiff<Inner>, 3>::from_data(values(members, fan_in, points, 2), &device)
                .swap_dims(1, 2);
        // Reversed along the points: a negative stride, read from the end of
        // each member's block backwards.
        let flipped =
            Tensor::<Autodiff<Inner>, 3>::from_data(values(members, points, fan_in, 6), &device)
                .flip([1]);
        let cases = [
            ("broadcast", broadcast),
            ("transposed", transposed),
            ("flipped", flipped),
        ];
        for (case, input) in cases {
            let input = input.require_grad();
            let weight: Tensor<Autodiff<Inner>, 3> =
                Tensor::from_data(values(members, fan_in, fan_out, 3), &device).require_grad();
            let bias: Tensor<Autodiff<Inner>, 3> =
                Tensor::from_data(values(members, 1, fan_out, 4), &device).require_grad();
            // A weighting, so that every output element has its own gradient.
            let weighting: Tensor<Autodiff<Inner>, 3> =
                Tensor::from_data(values(members, points, fan_out, 5), &device);
            let fast = fast_affine(input.clone(), &weight, &bias);
            let plain = input.clone().matmul(weight.clone()) + bias.clone();
            assert_close(fast.clone().inner(), plain.clone().inner(), case);
            let fast_grads = (fast * weighting.clone()).sum().backward();
            let plain_grads = (plain * weighting).sum().backward();
            for (name, parameter) in [("input", &input), ("weight", &weight), ("bias", &bias)] {
                let what = format!("{case}: gradient of the {name}");
                assert_close(
                    parameter.grad(&fast_grads).unwrap(),
                    parameter.grad(&plain_grads).unwrap(),
                    &what,
                );
            }
        }
    }

    #[test]
    fn flex_affine_and_its_gradients_match_burns_ops() {
        the_op_and_its_gradients_match_burns_ops::<Flex>();
    }

    #[test]
    fn the_default_affine_and_its_gradients_match_burns_ops() {
        the_op_and_its_gradients_match_burns_ops::<NdArray>();
    }

    #[test]
    fn an_untracked_input_gets_no_gradient() {
        type A = Autodiff<Flex>;
        let device = Default::default();
        let input: Tensor<A, 3> = Tensor::from_data(values(2, 5, 3, 1), &device);
        let weight: Tensor<A, 3> = Tensor::from_data(values(2, 3, 4, 2), &device).require_grad();
        let bias: Tensor<A, 3> = Tensor::from_data(values(2, 1, 4, 3), &device).require_grad();
        let grads = fast_affine(input.clone(), &weight, &bias).sum().backward();
        assert!(input.grad(&grads).is_none());
        // Each bias entry is added to 5 points.
        let bias_grad = bias
            .grad(&grads)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(bias_grad.iter().all(|&g| g == 5.0), "{bias_grad:?}");
    }
}
