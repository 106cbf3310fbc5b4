//! Zero-cost proxies: the neural-architecture-search field's scores of an
//! untrained network, computed on the same networks as the variability
//! measures so that they can be compared as predictors of trainability
//! (docs/predictors.md). Each is implemented from its paper's
//! definition; higher is predicted better except `ntk_cond` (lower).
//!
//! - `naswot` — Mellor et al. 2021, "Neural Architecture Search without
//!   Training" (ICML): the binary code of a point is the sign pattern
//!   `1{z > 0}` of every hidden pre-activation; `K[i,j] = units −
//!   Hamming(code_i, code_j)` over a batch; score `log|det K|`.
//! - `grad_norm` and `snip` — Abdelfattah et al. 2021, "Zero-Cost Proxies
//!   for Lightweight NAS" (ICLR), after Lee et al. 2019 (SNIP): the norm of
//!   the whole loss gradient, and `Σ |θ ⊙ ∂L/∂θ|` over all parameters.
//! - `synflow` — Tanaka et al. 2020, "Pruning neural networks without any
//!   data by iteratively conserving synaptic flow" (NeurIPS), as a proxy in
//!   Abdelfattah et al.: parameters replaced by `|θ|`, an all-ones input,
//!   `R` the sum of the output, score `Σ θ ⊙ ∂R/∂θ`. Data-free; in `f64`.
//! - `ntk_cond` — Chen, Gong & Wang 2021, "Neural Architecture Search on
//!   ImageNet in Four GPU Hours" (TE-NAS, ICLR): the condition number
//!   `λ_max/λ_min` of the empirical NTK `J Jᵀ` on a batch, `J = ∂f/∂θ`.
//! - `zico` — Li et al. 2023, "ZiCo: Zero-shot NAS via inverse coefficient
//!   of variation on gradients" (ICLR): per block, `Σ_θ mean|g_θ| / std(g_θ)`
//!   over the batch's per-example loss gradients, score `Σ_blocks log` of it.
//!
//! Everything is batched: the per-example Jacobian comes from one backward
//! pass through an ensemble holding one copy of each network per example.

use std::collections::BTreeMap;

use burn::module::{AutodiffModule, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorCreationOptions};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::names::Measure;
use crate::nn::{
    f64_device, ComputeBackend, F64Backend, Mlp, PreActivationObserver, SupportedBackend,
};
use crate::problem::Loss;

/// Examples in the batch of NASWOT, the NTK and ZiCo (Mellor et al. use 128).
pub const PROXY_BATCH: usize = 128;

/// The zero-cost proxies of one network; `None` with a reason in `missing`
/// where a proxy has no finite value (a singular kernel, an overflow).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Proxies {
    /// NASWOT: `log|det K|` of the active codes' kernel (Mellor et al. 2021).
    pub naswot: Option<f64>,
    /// Norm of the whole loss gradient (Abdelfattah et al. 2021).
    pub grad_norm: Option<f64>,
    /// SNIP: `Σ |θ ⊙ ∂L/∂θ|` (Lee et al. 2019).
    pub snip: Option<f64>,
    /// SynFlow: `Σ θ ⊙ ∂R/∂θ` with `|θ|` and an all-ones input, data-free
    /// (Tanaka et al. 2020).
    pub synflow: Option<f64>,
    /// Condition number `λ_max/λ_min` of the empirical NTK (TE-NAS, Chen et
    /// al. 2021); lower is predicted better.
    pub ntk_cond: Option<f64>,
    /// ZiCo: `Σ_blocks log Σ_θ mean|g_θ| / std(g_θ)` (Li et al. 2023).
    pub zico: Option<f64>,
    /// Why a proxy is null, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub missing: BTreeMap<String, String>,
}

impl Proxies {
    /// A proxy's value (`None` for a null value or a measure that is not a
    /// proxy).
    pub fn get(&self, proxy: Measure) -> Option<f64> {
        *self.slot(proxy)?
    }

    /// Where a proxy's value is kept.
    fn slot(&self, proxy: Measure) -> Option<&Option<f64>> {
        match proxy {
            Measure::Naswot => Some(&self.naswot),
            Measure::GradNorm => Some(&self.grad_norm),
            Measure::Snip => Some(&self.snip),
            Measure::Synflow => Some(&self.synflow),
            Measure::NtkCond => Some(&self.ntk_cond),
            Measure::Zico => Some(&self.zico),
            _ => None,
        }
    }

    /// Every proxy null, with the reason: the run was told not to compute them.
    pub fn not_computed() -> Self {
        let mut proxies = Self::default();
        for &proxy in Measure::PROXIES {
            proxies.set(proxy, Err("not computed (proxies = false)"));
        }
        proxies
    }

    fn set(&mut self, proxy: Measure, value: Result<f64, &str>) {
        let name = proxy.name();
        let value = match value {
            Ok(v) if v.is_finite() => Some(v),
            Ok(_) => {
                self.missing.insert(name.into(), "not finite in f32".into());
                None
            }
            Err(reason) => {
                self.missing.insert(name.into(), reason.into());
                None
            }
        };
        let slot = match proxy {
            Measure::Naswot => &mut self.naswot,
            Measure::GradNorm => &mut self.grad_norm,
            Measure::Snip => &mut self.snip,
            Measure::Synflow => &mut self.synflow,
            Measure::NtkCond => &mut self.ntk_cond,
            Measure::Zico => &mut self.zico,
            other => unreachable!("{other} is not a proxy"),
        };
        *slot = value;
    }
}

/// Sum over everything but the member dimension: `[members, …]` → `[members]`.
fn per_member_sum<B: Backend>(values: Tensor<B, 3>) -> Tensor<B, 1> {
    let members = values.dims()[0];
    values
        .reshape([members as i32, -1])
        .sum_dim(1)
        .reshape([members])
}

fn host<B: Backend, const D: usize>(values: Tensor<B, D>) -> Vec<f64> {
    values
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("float data")
}

/// `‖∂L/∂θ‖` and SNIP's `Σ|θ ⊙ ∂L/∂θ|` of each member, over every parameter,
/// from a backward pass the caller has run.
pub fn gradient_proxies<B: ComputeBackend>(
    model: &Mlp<B>,
    gradients: &B::Gradients,
) -> (Vec<f64>, Vec<f64>) {
    let mut squares: Vec<Tensor<B::InnerBackend, 1>> = Vec::new();
    let mut saliences = Vec::new();
    for param in model.param_groups().into_iter().flatten() {
        let gradient = param
            .val()
            .grad(gradients)
            .expect("every parameter takes part in the loss");
        squares.push(per_member_sum(gradient.clone().square()));
        saliences.push(per_member_sum((param.val().inner() * gradient).abs()));
    }
    let total =
        |columns: Vec<Tensor<B::InnerBackend, 1>>| host(Tensor::stack::<2>(columns, 1).sum_dim(1));
    (
        total(squares).into_iter().map(f64::sqrt).collect(),
        total(saliences),
    )
}

/// SynFlow of each member on `inputs` inputs: `|θ|`, all-ones input,
/// `Σ θ ⊙ ∂R/∂θ` with `R` the sum of the outputs, in `f64`
/// (on [`F64Backend`]): the flow multiplies |θ| over every layer, about
/// `(n·E|w|)^L`, which overflows `f32` for deep networks at larger budgets
/// (~1e49 at depth 64 and budget 50,000) but not `f64`.
pub fn synflow<B: Backend>(model: &Mlp<B>, inputs: usize) -> Vec<f64> {
    let positive = model
        .to_backend::<F64Backend>(&f64_device())
        .map_params(|t| t.abs());
    let members = positive.members();
    let ones = Tensor::<F64Backend, 3>::ones(
        [members, 1, inputs],
        TensorCreationOptions::new(f64_device()).with_dtype(DType::F64),
    );
    let gradients = positive.forward(ones).sum().backward();
    let flows = positive
        .param_groups()
        .into_iter()
        .flatten()
        .map(|p| {
            per_member_sum(
                p.val().inner()
                    * p.val()
                        .grad(&gradients)
                        .expect("every parameter takes part"),
            )
        })
        .collect();
    host(Tensor::stack::<2>(flows, 1).sum_dim(1))
}

/// Collects the sign code `1{z > 0}` of every pre-activation.
struct SignCodes<B: Backend> {
    codes: Vec<Tensor<B, 3>>,
}

impl<B: Backend> PreActivationObserver<B> for SignCodes<B> {
    fn observe(&mut self, z: &Tensor<B, 3>) {
        self.codes.push(z.clone().greater_elem(0.0).float());
    }
}

/// NASWOT's kernel of each member on `points` (`[members, B, B]`):
/// the number of units whose sign agrees between two points.
pub fn naswot_kernel<B: SupportedBackend>(model: &Mlp<B>, points: Tensor<B, 2>) -> Tensor<B, 3> {
    let mut observer = SignCodes { codes: Vec::new() };
    model.forward_observed(model.broadcast_input(points), &mut observer);
    let codes = Tensor::cat(observer.codes, 2);
    let off = codes.clone().neg() + 1.0;
    codes.clone().matmul(codes.swap_dims(1, 2)) + off.clone().matmul(off.swap_dims(1, 2))
}

/// `log det K` of a symmetric positive semi-definite matrix by Cholesky, or
/// why there is none (`K` singular to working precision).
pub fn log_determinant(kernel: DMatrix<f64>) -> Result<f64, &'static str> {
    let scale = kernel.diagonal().max().max(f64::MIN_POSITIVE);
    let cholesky =
        nalgebra::Cholesky::new(kernel).ok_or("the kernel is singular (points share a code)")?;
    let diagonal = cholesky.l_dirty().diagonal();
    // A pivot this small relative to the kernel is a rounding error around zero.
    if diagonal.iter().any(|&d| d * d <= 1e-10 * scale) {
        return Err("the kernel is singular (points share a code)");
    }
    Ok(diagonal.iter().map(|d| 2.0 * d.ln()).sum())
}

/// `λ_max / λ_min` of a symmetric positive semi-definite matrix.
pub fn condition_number(kernel: DMatrix<f64>) -> Result<f64, &'static str> {
    let eigenvalues = kernel.symmetric_eigenvalues();
    let (low, high) = eigenvalues
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    // The Jacobian is f32 (~1e-7 relative): below 1e-12·λ_max, that is
    // σ_min below 1e-6·σ_max, an eigenvalue is indistinguishable from zero.
    if high <= 0.0 || low <= 1e-12 * high {
        return Err("the NTK is singular to f32 precision");
    }
    Ok(high / low)
}

/// The `[members, B, B]` host matrices of a `[members, B, B]` tensor.
fn host_matrices<B: Backend>(kernels: Tensor<B, 3>) -> Vec<DMatrix<f64>> {
    let [_, rows, cols] = kernels.dims();
    host(kernels)
        .chunks(rows * cols)
        .map(|m| DMatrix::from_row_slice(rows, cols, m))
        .collect()
}

/// The per-example gradient `∂(w_i · f(x_i))/∂θ` of each member, per
/// parameter group (`[members, B, params of the group]`), and the outputs
/// `[members, B, k]`: one backward pass through an ensemble holding one
/// copy of each member per example (copy `(m, i)` sees example `i` only, so
/// its parameter gradient is row `i` of member `m`'s). With `weights`
/// `None` (all ones) it is the Jacobian of the summed logits, the rows
/// TE-NAS's NTK is built from (Chen et al. 2021); with the loss's slope
/// `∂ℓ/∂f` it is each example's loss gradient, ZiCo's input.
fn jacobian<B: ComputeBackend>(
    model: &Mlp<B>,
    points: Tensor<B, 2>,
    weights: Option<Tensor<B::InnerBackend, 3>>,
) -> (Vec<Tensor<B::InnerBackend, 3>>, Tensor<B::InnerBackend, 3>) {
    let members = model.members();
    let [batch, dim] = points.dims();
    let copies = model.map_params(|t| {
        let [m, rows, cols] = t.dims();
        t.unsqueeze_dim::<4>(1)
            .expand([m, batch, rows, cols])
            .reshape([m * batch, rows, cols])
    });
    let input = points
        .unsqueeze::<3>()
        .expand([members, batch, dim])
        .reshape([members * batch, 1, dim]);
    let output = copies.forward(input);
    let outputs = output.dims()[2];
    let weighted = match weights {
        Some(w) => output.clone() * Tensor::from_inner(w.reshape([members * batch, 1, outputs])),
        None => output.clone(),
    };
    let gradients = weighted.sum().backward();
    let groups = copies
        .param_groups()
        .into_iter()
        .map(|group| {
            let rows = group.iter().map(|p: &&Param<Tensor<B, 3>>| {
                let gradient = p
                    .val()
                    .grad(&gradients)
                    .expect("every parameter takes part");
                gradient.reshape([members as i32, batch as i32, -1])
            });
            Tensor::cat(rows.collect(), 2)
        })
        .collect();
    (groups, output.inner().reshape([members, batch, outputs]))
}

/// Jacobian entries one pass holds (`members × B × params`, 16 MiB of
/// `f32`): larger ensembles go through in groups of members.
const JACOBIAN_ELEMENTS: usize = 1 << 22;

/// One network's `ntk_cond` and `zico`, each a value or why it has none.
pub type NtkAndZico = (Result<f64, &'static str>, Result<f64, &'static str>);

/// `ntk_cond` and `zico` of each member on a batch with its labels.
pub fn jacobian_proxies<B: ComputeBackend>(
    model: &Mlp<B>,
    points: Tensor<B, 2>,
    labels: Tensor<B::InnerBackend, 2>,
    loss: Loss,
) -> Vec<NtkAndZico> {
    let members = model.members();
    let per_pass = (JACOBIAN_ELEMENTS / (points.dims()[0] * model.params_per_member()).max(1))
        .clamp(1, members);
    let mut proxies = Vec::with_capacity(members);
    for start in (0..members).step_by(per_pass) {
        let group = model.map_params(|t| t.narrow(0, start, per_pass.min(members - start)));
        proxies.extend(jacobian_proxies_of_group(
            &group,
            points.clone(),
            labels.clone(),
            loss,
        ));
    }
    proxies
}

fn jacobian_proxies_of_group<B: ComputeBackend>(
    model: &Mlp<B>,
    points: Tensor<B, 2>,
    labels: Tensor<B::InnerBackend, 2>,
    loss: Loss,
) -> Vec<NtkAndZico> {
    let (groups, output) = jacobian(model, points.clone(), None);
    // Per-example loss gradients g_i = Σ_j ℓ′(f_i, y_i)_j·∂f_ij/∂θ: ZiCo's
    // mean and spread over the batch are invariant to the loss's overall
    // scale. One logit: the slope times the Jacobian's row; several: a
    // second pass weighted by the slope.
    let slope = loss.slope(output.clone(), labels);
    let loss_gradients: Vec<Tensor<B::InnerBackend, 3>> = if output.dims()[2] == 1 {
        groups
            .iter()
            .map(|group| group.clone() * slope.clone())
            .collect()
    } else {
        jacobian(model, points, Some(slope)).0
    };
    let mut zico_terms = Vec::with_capacity(groups.len());
    for g in loss_gradients {
        let mean_abs = g.clone().abs().mean_dim(1);
        let mean = g.clone().mean_dim(1);
        let variance = (g.square().mean_dim(1) - mean.square()).clamp_min(0.0);
        let spread = variance.clone().sqrt();
        // Parameters whose gradient does not vary over the batch carry no signal.
        let ratio =
            (mean_abs / spread.clamp_min(1e-30)).mask_fill(variance.lower_equal_elem(0.0), 0.0);
        zico_terms.push(per_member_sum(ratio));
    }
    let zico_sums = host(Tensor::stack::<2>(zico_terms, 1));
    let blocks = groups.len();
    let jacobian = Tensor::cat(groups, 2);
    let [_, batch, params] = jacobian.dims();
    let jacobian = jacobian
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("float data");
    jacobian
        .chunks(batch * params)
        .zip(zico_sums.chunks(blocks))
        .map(|(rows, sums)| {
            let ntk = gram_f64(rows, batch, params);
            (condition_number(ntk), zico(sums))
        })
        .collect()
}

/// ZiCo (Li et al. 2023) from its sum over each block's parameters of
/// `mean|g| / std(g)` over the batch: `Σ log` of the sums.
pub(crate) fn zico(group_sums: &[f64]) -> Result<f64, &'static str> {
    if group_sums.iter().all(|&s| s > 0.0) {
        Ok(group_sums.iter().map(|s| s.ln()).sum())
    } else {
        Err("a block's gradients do not vary over the batch")
    }
}

/// Parameters per block of [`gram_f64`]: the block's `f64` copy (`B ×
/// 2048 × 8` bytes, 2 MiB at `B = 128`) stays in the cache.
const GRAM_BLOCK: usize = 2048;

/// `J Jᵀ` in `f64` of the row-major `f32` matrix `rows` (`batch × params`),
/// accumulated over blocks of parameters. In `f32` the Gram matrix's
/// rounding (~1e-7 of λ_max) would swamp the small eigenvalues the
/// condition number needs; a whole `f64` copy of `J` (200 MB at a budget
/// of 200,000) costs more to allocate and fill than the product.
fn gram_f64(rows: &[f32], batch: usize, params: usize) -> DMatrix<f64> {
    let mut gram = DMatrix::<f64>::zeros(batch, batch);
    let mut block = DMatrix::<f64>::zeros(0, 0);
    for start in (0..params).step_by(GRAM_BLOCK) {
        let width = GRAM_BLOCK.min(params - start);
        // Column i of the block is example i's gradient over the block's
        // parameters: a contiguous run of its row of J.
        block.resize_mut(width, batch, 0.0);
        for (i, mut column) in block.column_iter_mut().enumerate() {
            let row = &rows[i * params + start..i * params + start + width];
            column
                .iter_mut()
                .zip(row)
                .for_each(|(c, &r)| *c = f64::from(r));
        }
        // `gemm` on an explicit transpose: nalgebra's `gemm_tr` is a loop of
        // dot products, its `gemm` a blocked product.
        gram.gemm(1.0, &block.transpose(), &block, 1.0);
    }
    gram
}

/// Every proxy of each member. `points`/`labels` are the proxies' batch;
/// `grad_norm` and `snip` come from the caller's full-batch backward pass,
/// and `ntk_cond` and `zico` too where the caller has them (`host.rs`).
pub fn proxies<B: ComputeBackend>(
    model: &Mlp<B>,
    points: Tensor<B, 2>,
    labels: Tensor<B::InnerBackend, 2>,
    loss: Loss,
    gradient: (Vec<f64>, Vec<f64>),
    inputs: usize,
    jacobians: Option<Vec<NtkAndZico>>,
) -> Vec<Proxies> {
    let kernels = host_matrices(naswot_kernel(&model.valid(), points.clone().inner()));
    let flows = synflow(model, inputs);
    let jacobians = jacobians.unwrap_or_else(|| jacobian_proxies(model, points, labels, loss));
    let (norms, snips) = gradient;
    kernels
        .into_iter()
        .zip(flows)
        .zip(jacobians)
        .enumerate()
        .map(|(member, ((kernel, flow), (ntk_cond, zico)))| {
            let mut proxies = Proxies::default();
            proxies.set(Measure::Naswot, log_determinant(kernel));
            proxies.set(Measure::GradNorm, Ok(norms[member]));
            proxies.set(Measure::Snip, Ok(snips[member]));
            proxies.set(Measure::Synflow, Ok(flow));
            proxies.set(Measure::NtkCond, ntk_cond);
            proxies.set(Measure::Zico, zico);
            proxies
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::mlp::{EnsembleLinear, HiddenLayer};
    use crate::nn::{ActivationRegistry, LayerRegistry};
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::TensorData;

    type B = Autodiff<NdArray>;

    /// The tiny relu network 2 → 3 → 1 every hand computation below uses:
    /// `W₁ = [[1, −1, ½], [½, 1, −1]]` (rows: inputs), `b₁ = [0, ½, −½]`,
    /// `w₂ = [1, −2, ½]`, `b₂ = 0.1`; `scale` multiplies the hidden layer.
    fn tiny(scale: f32) -> Mlp<B> {
        let device = Default::default();
        let param = |values: Vec<f32>, shape: [usize; 3]| {
            Param::from_data(TensorData::new(values, shape), &device)
        };
        let hidden = HiddenLayer {
            params: vec![
                param(
                    [1.0, -1.0, 0.5, 0.5, 1.0, -1.0].map(|v| v * scale).to_vec(),
                    [1, 2, 3],
                ),
                param([0.0, 0.5, -0.5].map(|v| v * scale).to_vec(), [1, 1, 3]),
            ],
            is_weight: vec![true, false],
        };
        Mlp {
            hidden: vec![hidden],
            output: EnsembleLinear::from_host(vec![1.0, -2.0, 0.5], vec![0.1], [1, 3, 1], &device),
            activation: ActivationRegistry::builtin().get("relu").unwrap(),
            layer: LayerRegistry::builtin().get("dense").unwrap(),
        }
    }

    fn points(values: &[f32]) -> Tensor<B, 2> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [values.len() / 2, 2]),
            &Default::default(),
        )
    }

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn naswot_of_the_tiny_network_by_hand() {
        // Codes (z > 0) of (1, 0.2), (0, 1), (−1, −0.8): [1,0,0], [1,1,0],
        // [0,1,0]; K = 3 − Hamming = [[3,2,1],[2,3,2],[1,2,3]], det K = 8.
        let batch = [1.0, 0.2, 0.0, 1.0, -1.0, -0.8];
        let kernel = naswot_kernel(&tiny(1.0).valid(), points(&batch).inner());
        let score = log_determinant(host_matrices(kernel).remove(0)).unwrap();
        assert!((score - 8f64.ln()).abs() < 1e-9, "{score}");
        // NASWOT sees only the activation pattern: rescaling the hidden
        // layer by a positive factor keeps every sign, so the score.
        let rescaled = log_determinant(
            host_matrices(naswot_kernel(&tiny(3.0).valid(), points(&batch).inner())).remove(0),
        )
        .unwrap();
        assert_eq!(score, rescaled);
        // Two points in one linear region share a code: K is singular.
        let same_region = log_determinant(
            host_matrices(naswot_kernel(
                &tiny(1.0).valid(),
                points(&[1.0, 0.2, 1.0, 0.25]).inner(),
            ))
            .remove(0),
        );
        assert!(same_region.is_err());
    }

    #[test]
    fn grad_norm_and_snip_of_the_tiny_network_by_hand() {
        // One point (0, 1) with label 1: h = [½, 3/2, 0], f = −2.4,
        // ℓ′ = σ(f) − 1. ‖∇‖² = ℓ′²·(¼ + 9/4 + 1 + 5 + 5) = ℓ′²·13.5 and
        // Σ|θ∇| = |ℓ′|·(3.5 + 0.1 + 2.5 + 1) = |ℓ′|·7.1.
        let model = tiny(1.0);
        let labels =
            Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32], [1, 1]), &Default::default());
        let logits = model.forward(model.broadcast_input(points(&[0.0, 1.0])));
        let gradients = Loss::Bce.per_member(logits, labels).sum().backward();
        let (norms, snips) = gradient_proxies(&model, &gradients);
        let slope = sigmoid(-2.4) - 1.0;
        assert!(
            (norms[0] - slope.abs() * 13.5f64.sqrt()).abs() < 1e-5,
            "{}",
            norms[0]
        );
        assert!((snips[0] - slope.abs() * 7.1).abs() < 1e-5, "{}", snips[0]);
    }

    #[test]
    fn synflow_of_the_tiny_network_by_hand() {
        // |θ| and input (1, 1): h = [3/2, 5/2, 2], R = 1.5 + 5 + 1 + 0.1 = 7.6.
        // The output layer's flow is R itself (R is linear in it) and the
        // hidden layer's is Σ_j |w₂ⱼ|·hⱼ = 7.5: SynFlow = 15.1.
        let flow = synflow(&tiny(1.0), 2)[0];
        assert!((flow - 15.1).abs() < 1e-5, "{flow}");
        // It depends on |θ| only: flipping every sign changes nothing.
        let flipped = tiny(1.0).map_params(|t| t.neg());
        assert!((synflow(&flipped, 2)[0] - flow).abs() < 1e-5);
    }

    #[test]
    fn synflow_of_a_deep_wide_network_does_not_overflow() {
        // Depth 64 at budget 50,000 (width 28): the flow is ~1e49, past f32's
        // 3.4e38, so an f32 computation would give infinity (a null proxy).
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let dense = LayerRegistry::builtin().get("dense").unwrap();
        let model: Mlp<B> = crate::nn::MlpConfig::new(64, 28, "relu".into()).init(
            &relu,
            &dense,
            &[3],
            &Default::default(),
        );
        let flow = synflow(&model, 2)[0];
        assert!(flow.is_finite() && flow > f32::MAX as f64, "{flow:e}");
    }

    #[test]
    fn ntk_condition_and_zico_of_the_tiny_network_by_hand() {
        // Rows of J = ∂f/∂θ, as [W₁ (row-major), b₁, w₂, b₂]:
        // at (1, 0.2): h = [1.1, 0, 0], only unit 1 live;
        // at (0, 1):   h = [½, 3/2, 0], units 1 and 2 live.
        let first = [
            1.0, 0.0, 0.0, 0.2, 0.0, 0.0, 1.0, 0.0, 0.0, 1.1, 0.0, 0.0, 1.0,
        ];
        let second = [
            0.0, 0.0, 0.0, 1.0, -2.0, 0.0, 1.0, -2.0, 0.0, 0.5, 1.5, 0.0, 1.0,
        ];
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let (a, b, c) = (
            dot(&first, &first),
            dot(&second, &second),
            dot(&first, &second),
        );
        assert_eq!((a, b, c), (4.25, 13.5, 2.75));
        let root = ((a - b).powi(2) + 4.0 * c * c).sqrt();
        let expected_cond = (a + b + root) / (a + b - root);

        // Labels 0 and 1: f = 1.2 and −2.4, ℓ′ = σ(f) − y.
        let slopes = [sigmoid(1.2), sigmoid(-2.4) - 1.0];
        let block_ratio = |range: std::ops::Range<usize>| {
            range
                .map(|k| (first[k] * slopes[0], second[k] * slopes[1]))
                .filter(|(g1, g2)| g1 != g2)
                // Two examples: mean|g| / std(g) = (|g₁| + |g₂|) / |g₁ − g₂|.
                .map(|(g1, g2)| (g1.abs() + g2.abs()) / (g1 - g2).abs())
                .sum::<f64>()
        };
        let expected_zico = block_ratio(0..9).ln() + block_ratio(9..13).ln();

        let labels = Tensor::<NdArray, 2>::from_data(
            TensorData::new(vec![0.0f32, 1.0], [2, 1]),
            &Default::default(),
        );
        let (cond, zico) =
            jacobian_proxies(&tiny(1.0), points(&[1.0, 0.2, 0.0, 1.0]), labels, Loss::Bce)
                .remove(0);
        let (cond, zico) = (cond.unwrap(), zico.unwrap());
        assert!(
            (cond / expected_cond - 1.0).abs() < 1e-5,
            "{cond} vs {expected_cond}"
        );
        assert!(
            (zico - expected_zico).abs() < 1e-5,
            "{zico} vs {expected_zico}"
        );
    }

    #[test]
    fn the_blocked_gram_matrix_is_the_naive_one() {
        // Three blocks, the last partial; rows that differ in every entry.
        let (batch, params) = (5, 2 * GRAM_BLOCK + 37);
        let rows: Vec<f32> = (0..batch * params)
            .map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 97.0)
            .collect();
        let gram = gram_f64(&rows, batch, params);
        for i in 0..batch {
            for j in 0..batch {
                let naive: f64 = (0..params)
                    .map(|p| f64::from(rows[i * params + p]) * f64::from(rows[j * params + p]))
                    .sum();
                let error = (gram[(i, j)] - naive).abs() / naive.abs().max(1.0);
                assert!(
                    error < 1e-12,
                    "K[{i},{j}] = {} against {naive}",
                    gram[(i, j)]
                );
            }
        }
    }

    #[test]
    fn the_jacobian_pass_in_groups_gives_what_one_pass_gives() {
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let dense = LayerRegistry::builtin().get("dense").unwrap();
        let config = crate::nn::MlpConfig::new(3, 6, "relu".into());
        let model: Mlp<B> = config.init(&relu, &dense, &[1, 2, 3], &Default::default());
        let batch: Vec<f32> = (0..16)
            .map(|k| ((k * 37 % 19) as f32 / 9.5) - 1.0)
            .collect();
        let labels = Tensor::<NdArray, 2>::from_data(
            TensorData::new((0..8).map(|k| (k % 2) as f32).collect::<Vec<_>>(), [8, 1]),
            &Default::default(),
        );
        let together = jacobian_proxies_of_group(&model, points(&batch), labels.clone(), Loss::Bce);
        for (member, whole) in together.iter().enumerate() {
            let alone = model.map_params(|t| t.narrow(0, member, 1));
            let (cond, zico) =
                jacobian_proxies_of_group(&alone, points(&batch), labels.clone(), Loss::Bce)
                    .remove(0);
            assert_eq!(whole.0.is_ok(), cond.is_ok());
            if let (Ok(x), Ok(y)) = (whole.0, cond) {
                assert!((x / y - 1.0).abs() < 1e-6, "member {member}: {x} vs {y}");
            }
            assert!((whole.1.unwrap() - zico.unwrap()).abs() < 1e-6);
        }
    }
}
