//! The measures of a dense ensemble on the CPU, from its passes on host
//! vectors (`nn/stack.rs`) instead of tensor ops.
//!
//! On Flex, the tensor path streams the grid through every member at once
//! in chunks of a few points (an intermediate of 50 members of width 500
//! holds 5 points per 2¹⁷ values), and each chunk costs a dozen tensor ops,
//! each allocating its output, and the gradient profile an autodiff graph.
//! Here each member passes the grid in blocks of rows that stay in cache,
//! and each block is reduced where it lies: the same sums as the tensor
//! path's (centred on the first point, short `f32` sums added in `f64`,
//! exact active counts), so the measures agree within float tolerance
//! (`measurer.rs` tests both paths side by side).

use nalgebra::DMatrix;

use super::functions::UnitMoments;
use super::proxies::{condition_number, zico, NtkAndZico};
use crate::nn::kernels::columns::{from_chunks, LANES};
use crate::nn::kernels::moments::ColumnSums;
use crate::nn::stack::{DenseStack, Seed, Workspace};
use crate::nn::SliceActivation;
use crate::problem::Loss;

/// What one member's pass over the landscape's points gathers.
pub(crate) struct MemberPass {
    /// Active (point, unit) pairs over every hidden layer.
    pub active: f64,
    /// The moments of every hidden layer's output, then of the logits.
    pub moments: Vec<UnitMoments>,
    /// The logits at every point, `points × outputs`, row-major.
    pub logits: Vec<f32>,
}

/// `member`'s pass over `grid` (`points × inputs`, row-major): a unit is
/// active where `|σ'(z)| >= active_threshold` (METHOD §3).
pub(crate) fn landscape_pass(
    stack: &DenseStack,
    member: usize,
    grid: &[f32],
    sigma: &dyn SliceActivation,
    active_threshold: f64,
) -> MemberPass {
    let units = stack.units();
    let hidden = units.len() - 2;
    let mut pass = MemberPass {
        active: 0.0,
        moments: Vec::new(),
        logits: Vec::with_capacity(grid.len() / units[0] * units[hidden + 1]),
    };
    // The comparison Burn's `greater_equal_elem` makes: in the tensor's f32,
    // on σ'(z) as the tensor path takes it (`count_active`).
    let threshold = active_threshold as f32;
    let mut sums: Vec<ColumnSums> = Vec::with_capacity(hidden + 1);
    let mut shifts: Vec<Vec<f64>> = Vec::with_capacity(hidden + 1);
    let in_chunks = stack.in_chunks();
    let mut logits = Vec::new();
    stack.observe_forward(member, grid, sigma, |layer, z, h, points| {
        let width = units[layer + 1];
        if sums.len() == layer {
            // Centred on the first point.
            let mut first = Vec::with_capacity(width);
            match in_chunks {
                true => from_chunks(h, width, 1, &mut first),
                false => first.extend_from_slice(&h[..width]),
            }
            sums.push(ColumnSums::new(&first, in_chunks));
            shifts.push(first.iter().map(|&v| v.into()).collect());
        }
        match in_chunks {
            true => sums[layer].add_chunks(h, points),
            false => sums[layer].add(h),
        }
        if layer == hidden {
            match in_chunks {
                true => {
                    from_chunks(z, width, points, &mut logits);
                    pass.logits.extend_from_slice(&logits);
                }
                false => pass.logits.extend_from_slice(z),
            }
            return;
        }
        let active = match in_chunks {
            true => active_in_chunks(sigma, z, h, threshold, width, points),
            false => sigma.count_active(z, h, threshold),
        };
        pass.active += f64::from(active);
    });
    let points = grid.len() / units[0];
    pass.moments = sums
        .into_iter()
        .zip(shifts)
        .map(|(sums, shift)| {
            let (sum, sum_of_squares) = sums.finish();
            UnitMoments {
                shift,
                sum,
                sum_of_squares,
                points,
            }
        })
        .collect();
    pass
}

/// The active (point, unit) pairs of `points` points stored in chunks,
/// without the last chunk's padding.
fn active_in_chunks(
    sigma: &dyn SliceActivation,
    z: &[f32],
    h: &[f32],
    threshold: f32,
    width: usize,
    points: usize,
) -> u32 {
    let whole = points / LANES * LANES * width;
    let mut active = sigma.count_active(&z[..whole], &h[..whole], threshold);
    let lanes = points % LANES;
    if lanes > 0 {
        for unit in 0..width {
            let at = whole + unit * LANES;
            active += sigma.count_active(&z[at..at + lanes], &h[at..at + lanes], threshold);
        }
    }
    active
}

/// `member`'s gradient profile on the training set (`points × inputs` and
/// its labels, row-major): the norm of the loss gradient with respect to
/// each layer's weights, the output layer's last; the whole gradient's
/// norm; SNIP, `Σ |θ ⊙ ∂L/∂θ|` (Lee et al. 2019). `work` is kept from
/// member to member, so its buffers are allocated once.
pub(crate) fn gradient_profile(
    stack: &DenseStack,
    member: usize,
    [points, labels]: [&[f32]; 2],
    loss: Loss,
    sigma: &dyn SliceActivation,
    work: &mut Workspace,
) -> (Vec<f64>, f64, f64) {
    stack.gradients(member, [points, labels], loss, sigma, work);
    let square_sum = |values: &[f32]| values.iter().map(|&g| f64::from(g).powi(2)).sum::<f64>();
    let mut weight_norms = Vec::with_capacity(stack.layers());
    let (mut whole, mut snip) = (0.0, 0.0);
    for layer in 0..stack.layers() {
        let (weight, bias) = stack.layer(member, layer);
        let grads = &work.param_grads[2 * layer..2 * layer + 2];
        weight_norms.push(square_sum(&grads[0]).sqrt());
        for (values, grad) in [weight, bias].into_iter().zip(grads) {
            whole += square_sum(grad);
            snip += values
                .iter()
                .zip(grad)
                .map(|(&v, &g)| f64::from((v * g).abs()))
                .sum::<f64>();
        }
    }
    (weight_norms, whole.sqrt(), snip)
}

/// `member`'s `ntk_cond` and `zico` (`proxies.rs`) on the proxies' batch
/// (`points × inputs` and its labels, row-major), from its per-example
/// gradients factored layer by layer
/// ([`DenseStack::example_gradients`]): example `i`'s gradient of a
/// layer's weights is `hᵢᵀ·δᵢ`, of its biases `δᵢ`. So, with `H` and `Δ`
/// a layer's `hᵢ` and `δᵢ` as rows,
/// - the NTK `J·Jᵀ` is `Σ (Δ·Δᵀ) ⊙ (H·Hᵀ + 1)` over the layers, two
///   products as wide as the layer's sides where `J` has a column per
///   weight;
/// - ZiCo's sums over the batch of `|g|`, `g` and `g²` for every weight are
///   `|H|ᵀ·|Δ|`, `Hᵀ·Δ` and `(H∘H)ᵀ·(Δ∘Δ)`.
///
/// Both in `f64`, from the `f32` factors (the tensor path forms `J` in
/// `f32`, then its Gram matrix in `f64`); they agree within float
/// tolerance (`measurer.rs` tests both paths side by side).
pub(crate) fn jacobian_proxies(
    stack: &DenseStack,
    member: usize,
    [points, labels]: [&[f32]; 2],
    loss: Loss,
    sigma: &dyn SliceActivation,
    work: &mut Workspace,
) -> NtkAndZico {
    let units = stack.units();
    let (batch, outputs) = (points.len() / units[0], units[units.len() - 1]);
    let matrix = |rows: &[f32]| {
        DMatrix::<f64>::from_row_iterator(
            batch,
            rows.len() / batch,
            rows.iter().map(|&v| f64::from(v)),
        )
    };
    // TE-NAS's NTK is that of the summed logits (Chen et al. 2021), ZiCo's
    // per-example gradients are of the loss (Li et al. 2023).
    let ones = |logits: &[f32]| vec![1.0; logits.len()];
    let slope = |logits: &[f32]| loss.slope_rows(logits, labels, outputs);
    let mut ntk = DMatrix::<f64>::zeros(batch, batch);
    let mut group_sums = Vec::with_capacity(stack.layers());
    let seeds: [Seed; 2] = [&ones, &slope];
    stack.example_gradients(
        member,
        points,
        sigma,
        work,
        &seeds,
        |seed, _, below, delta| {
            let (h, d) = (matrix(below), matrix(delta));
            match seed {
                0 => ntk += ntk_term(&h, &d),
                _ => group_sums.push(zico_group_sum(&h, &d)),
            }
        },
    );
    // The output layer came first; the tensor path takes the blocks in order.
    group_sums.reverse();
    (condition_number(ntk), zico(&group_sums))
}

/// A layer's term of the NTK `J·Jᵀ`, from its rows of inputs `h` and of
/// gradients `d` at its pre-activation over a batch: `(Δ·Δᵀ) ⊙ (H·Hᵀ +
/// 1)`, the `+ 1` for the biases.
fn ntk_term(h: &DMatrix<f64>, d: &DMatrix<f64>) -> DMatrix<f64> {
    let input_gram = (h * h.transpose()).add_scalar(1.0);
    (d * d.transpose()).component_mul(&input_gram)
}

/// `Σ mean|g| / std(g)` over a layer's weights and biases, from its rows of
/// inputs `h` and of loss gradients `d` at its pre-activation over a batch:
/// the sums over the batch of `|g|`, `g` and `g²` for the weight from
/// input `a` to unit `b` are entries `(a, b)` of `|H|ᵀ·|Δ|`, `Hᵀ·Δ` and
/// `(H∘H)ᵀ·(Δ∘Δ)`, for the biases the column sums of `|Δ|`, `Δ` and `Δ∘Δ`.
fn zico_group_sum(h: &DMatrix<f64>, d: &DMatrix<f64>) -> f64 {
    let batch = h.nrows() as f64;
    let square = |m: &DMatrix<f64>| m.map(|v| v * v);
    let weights = [
        h.abs().transpose() * d.abs(),
        h.transpose() * d,
        square(h).transpose() * square(d),
    ];
    let biases = [d.abs().row_sum(), d.row_sum(), square(d).row_sum()];
    let weight_sums = weights[0].iter().zip(&weights[1]).zip(&weights[2]);
    let bias_sums = biases[0].iter().zip(&biases[1]).zip(&biases[2]);
    weight_sums
        .chain(bias_sums)
        .map(|((&sum_abs, &sum), &sum_of_squares)| {
            zico_ratio(batch, [sum_abs, sum, sum_of_squares])
        })
        .sum()
}

/// ZiCo's term for one parameter from its sums over a batch of `|g|`, `g`
/// and `g²`: `mean|g| / std(g)`, zero where `g` does not vary.
fn zico_ratio(batch: f64, [sum_abs, sum, sum_of_squares]: [f64; 3]) -> f64 {
    let mean = sum / batch;
    let variance = (sum_of_squares / batch - mean * mean).max(0.0);
    if variance <= 0.0 {
        return 0.0;
    }
    (sum_abs / batch) / variance.sqrt().max(1e-30)
}
