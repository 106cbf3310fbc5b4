//! A dense ensemble as host vectors, and its passes without autodiff, on
//! the CPU.
//!
//! Through Burn's autodiff, a step records a graph node per op and
//! allocates every intermediate. For a network of the shipped `dense`
//! layers whose activation has [`SliceActivation`] forms, the passes here
//! are the same arithmetic written out: the forward pass keeps each
//! layer's pre-activation and output in buffers reused from call to call,
//! the backward pass calls the kernels the Flex autodiff path calls
//! ([`affine_rows`], the activation's slices). Training (`train/fused.rs`)
//! and measuring (`measure/host.rs`) run such networks here. Burn's
//! autodiff stays the path of every other network, and the reference this
//! one is tested against: to the bit, except where every layer is narrow.
//! Such a network is stored in chunks of points (`columns.rs`,
//! [`affine_chunks`]), whose weight gradients sum over the points in
//! another order, and agrees with autodiff within 1e-5.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::activation::SliceActivation;
use super::kernels::affine::{
    affine_chunks, affine_chunks_backward, affine_rows, affine_rows_backward, without_gemm,
};
use super::kernels::columns::{self, from_chunks, to_chunks};
use super::{ActivationSpec, LayerSpec, Mlp};
use crate::problem::Loss;

/// The most values of one layer's intermediates over a whole batch (512 KB
/// of `f32`, within a core's L2 cache): the batch of the paper's networks up
/// to width 64 passes whole.
const WHOLE_BATCH_ELEMENTS: usize = 1 << 17;

/// The most values of one layer's intermediates over a block of rows of a
/// batch that does not pass whole, where no layer goes through `gemm`
/// (8 KB of `f32`): the four or five intermediates of a block (the
/// pre-activation, the output, the gradients) fit the L1 cache together,
/// so each pass over them (the product, the activation, their backward
/// passes) reads what the last one wrote from there. Where a layer
/// does, blocks are as large as [`WHOLE_BATCH_ELEMENTS`], to spread
/// `gemm`'s packing of the weights, which it repeats on every call, over
/// more rows.
const BLOCK_ELEMENTS: usize = 1 << 11;

/// The most values of every layer's intermediates (pre-activation and
/// output) over a block of rows, for a stack stored in chunks (1 MB of
/// `f32`, half a core's L2 cache or less): the backward pass finds every
/// layer's values, written by the forward pass, still in cache.
const CHUNKS_BLOCK_ELEMENTS: usize = 1 << 18;

/// The fewest rows of a block, however wide the layers.
const MIN_BLOCK_ROWS: usize = 4;

/// The seed of a backward pass from the logits: the gradient at the
/// logits, given them (both `points × outputs`, row-major).
pub(crate) type Seed<'a> = &'a dyn Fn(&[f32]) -> Vec<f32>;

/// An ensemble of dense networks as host vectors: every layer's weights and
/// biases, the output layer last.
pub(crate) struct DenseStack {
    members: usize,
    /// Units of the input, of each hidden layer and of the output: layer `l`
    /// maps `units[l]` to `units[l + 1]`.
    units: Vec<usize>,
    /// Per layer, weight then bias: every member's `fan_in × fan_out`
    /// row-major weights (or `fan_out` biases) in turn.
    params: Vec<Vec<f32>>,
    /// Whether every layer is narrow enough for `columns.rs`: the passes
    /// then store a block's values in chunks of points, as `columns.rs`
    /// lays them out, not point by point (`rows × units`, row-major).
    in_chunks: bool,
}

/// One member's buffers, kept from step to step: the forward pass (each
/// hidden layer's pre-activation and output, `points × width` or in chunks
/// of points, and the logits, `points × outputs`) and the gradients of the
/// backward pass.
#[derive(Default)]
pub(crate) struct Workspace {
    pre_activations: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
    /// The logits over every row of the batch, `points × outputs`,
    /// row-major, and over the current block of rows.
    pub(crate) logits: Vec<f32>,
    block_logits: Vec<f32>,
    /// The block's input and logits in chunks, for a stack stored so.
    input_chunks: Vec<f32>,
    logit_chunks: Vec<f32>,
    /// The gradient with respect to the current layer's output (first the
    /// logits'), and the one below it.
    grad: Vec<f32>,
    grad_below: Vec<f32>,
    /// One gradient per parameter, in [`DenseStack`]'s order.
    pub(crate) param_grads: Vec<Vec<f32>>,
}

impl DenseStack {
    /// The networks of `model`, where every hidden layer is the shipped
    /// dense layer and the activation has slice forms; `None` otherwise.
    pub(crate) fn of<B: Backend>(model: &Mlp<B>) -> Option<Self> {
        if !Self::takes(&model.layer, &model.activation) {
            return None;
        }
        let host = |param: &Param<Tensor<B, 3>>| {
            param
                .val()
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .expect("f32 parameters")
        };
        let mut units = vec![model.hidden.first()?.params[0].dims()[1]];
        let mut params = Vec::new();
        for layer in &model.hidden {
            units.push(layer.params[0].dims()[2]);
            params.extend(layer.params.iter().map(host));
        }
        units.push(model.output.weight.dims()[2]);
        params.extend([host(&model.output.weight), host(&model.output.bias)]);
        let in_chunks = Self::stores_in_chunks(&units);
        Some(Self {
            members: model.members(),
            units,
            params,
            in_chunks,
        })
    }

    /// Whether networks of this layer type and activation train here: the
    /// shipped dense layer, an activation with slice forms.
    pub(crate) fn takes(layer: &LayerSpec, activation: &ActivationSpec) -> bool {
        layer.function.is_dense() && activation.function.slices().is_some()
    }

    /// Whether a network of these units (its input, each hidden layer, its
    /// output) is stored in chunks of points: every layer narrow enough for
    /// `columns.rs`.
    pub(crate) fn stores_in_chunks(units: &[usize]) -> bool {
        units.windows(2).all(|fans| columns::fits(fans[0], fans[1]))
    }

    /// `model` with this stack's values as its parameters (fresh leaves).
    pub(crate) fn load_into<B: Backend>(&self, mut model: Mlp<B>) -> Mlp<B> {
        let device = model.output.weight.device();
        let members = self.members;
        let tensor = |values: &[f32], rows: usize, cols: usize| {
            Param::from_data(
                TensorData::new(values.to_vec(), [members, rows, cols]),
                &device,
            )
        };
        for (l, layer) in model.hidden.iter_mut().enumerate() {
            let [fan_in, fan_out] = self.fans(l);
            layer.params = vec![
                tensor(&self.params[2 * l], fan_in, fan_out),
                tensor(&self.params[2 * l + 1], 1, fan_out),
            ];
        }
        let last = self.layers() - 1;
        let [fan_in, fan_out] = self.fans(last);
        model.output.weight = tensor(&self.params[2 * last], fan_in, fan_out);
        model.output.bias = tensor(&self.params[2 * last + 1], 1, fan_out);
        model
    }

    /// Whether the passes store a block's values in chunks of points.
    pub(crate) fn in_chunks(&self) -> bool {
        self.in_chunks
    }

    pub(crate) fn members(&self) -> usize {
        self.members
    }

    /// Per layer, weight then bias, every member's values in turn.
    pub(crate) fn params(&self) -> &[Vec<f32>] {
        &self.params
    }

    /// [`DenseStack::params`], for an optimiser to update.
    pub(crate) fn params_mut(&mut self) -> &mut [Vec<f32>] {
        &mut self.params
    }

    /// Units of the input, of each hidden layer and of the output.
    pub(crate) fn units(&self) -> &[usize] {
        &self.units
    }

    /// Layers, the output layer included.
    pub(crate) fn layers(&self) -> usize {
        self.units.len() - 1
    }

    fn fans(&self, layer: usize) -> [usize; 2] {
        [self.units[layer], self.units[layer + 1]]
    }

    /// `member`'s weight and bias of `layer`.
    pub(crate) fn layer(&self, member: usize, layer: usize) -> (&[f32], &[f32]) {
        let [fan_in, fan_out] = self.fans(layer);
        let weights = &self.params[2 * layer][member * fan_in * fan_out..][..fan_in * fan_out];
        let biases = &self.params[2 * layer + 1][member * fan_out..][..fan_out];
        (weights, biases)
    }

    /// Rows of a batch one pass takes at once, each block passed forward
    /// and backward while its intermediates are still in cache. Stored in
    /// chunks: nearly equal blocks of whole chunks whose every layer's
    /// values fit [`CHUNKS_BLOCK_ELEMENTS`] (so that the buffers keep
    /// their length, but for a last block a chunk or so shorter). Otherwise
    /// all of them, unless the widest layer's intermediates over all of
    /// them would outgrow [`WHOLE_BATCH_ELEMENTS`]; then blocks of rows (of
    /// [`BLOCK_ELEMENTS`] where no layer goes through `gemm`).
    pub(crate) fn block_rows(&self, points: usize) -> usize {
        if points == 0 {
            return 1;
        }
        if self.in_chunks {
            let lanes = columns::LANES;
            let per_row: usize = 2 * self.units.iter().sum::<usize>();
            let most = (CHUNKS_BLOCK_ELEMENTS / per_row / lanes).max(1) * lanes;
            let blocks = points.div_ceil(most);
            return points.div_ceil(blocks).next_multiple_of(lanes).min(points);
        }
        let widest = self.units.iter().copied().max().unwrap_or(1);
        if points * widest <= WHOLE_BATCH_ELEMENTS {
            return points;
        }
        let gemm_free = (0..self.layers()).all(|layer| without_gemm(self.fans(layer)));
        let elements = match gemm_free {
            true => BLOCK_ELEMENTS,
            false => WHOLE_BATCH_ELEMENTS,
        };
        (elements / widest).max(MIN_BLOCK_ROWS)
    }

    /// `member`'s logits over the batch `input` (`points × inputs`,
    /// row-major) into `work.logits`, and the gradients of its loss against
    /// `labels` into `work.param_grads`, block of rows by block of rows.
    pub(crate) fn gradients(
        &self,
        member: usize,
        [input, labels]: [&[f32]; 2],
        loss: Loss,
        sigma: &dyn SliceActivation,
        work: &mut Workspace,
    ) {
        let [inputs, outputs] = [self.units[0], self.units[self.layers()]];
        let points = input.len() / inputs;
        let block = self.block_rows(points);
        work.logits.clear();
        let mut input_chunks = std::mem::take(&mut work.input_chunks);
        for start in (0..points).step_by(block) {
            let rows = start..(start + block).min(points);
            let x = &input[rows.start * inputs..rows.end * inputs];
            let y = &labels[rows.start * outputs..rows.end * outputs];
            let x = self.stored_input(x, &mut input_chunks);
            self.forward_to_logits(member, (x, rows.len()), sigma, work);
            let logits = &work.block_logits;
            loss.logits_gradient(logits, y, [points, outputs], &mut work.grad);
            work.logits.extend_from_slice(logits);
            self.store_logits_gradient(work);
            self.backward(member, (x, rows.len()), sigma, work, start > 0);
        }
        work.input_chunks = input_chunks;
    }

    /// `member`'s gradients of `Σᵢ sᵢ·f(xᵢ)` at every layer's
    /// pre-activation, example by example, over the batch `input` (`points
    /// × inputs`, row-major, passed whole), for each seed `s = seed(logits)`
    /// of `seeds` (both `points × outputs`, row-major) after one forward
    /// pass: `observe(seed, layer, below, delta)` for each layer, the output
    /// layer first, with the layer's input and that gradient as row-major
    /// rows. Example `i`'s gradient of the layer's weights is the outer
    /// product `below[i]ᵀ·delta[i]`, and of its biases `delta[i]`: the rows
    /// of the per-example Jacobian, factored.
    pub(crate) fn example_gradients(
        &self,
        member: usize,
        input: &[f32],
        sigma: &dyn SliceActivation,
        work: &mut Workspace,
        seeds: &[Seed],
        mut observe: impl FnMut(usize, usize, &[f32], &[f32]),
    ) {
        let points = input.len() / self.units[0];
        let mut input_chunks = std::mem::take(&mut work.input_chunks);
        let x = self.stored_input(input, &mut input_chunks);
        self.forward_to_logits(member, (x, points), sigma, work);
        let (mut below_rows, mut delta_rows) = (Vec::new(), Vec::new());
        for (s, seed) in seeds.iter().enumerate() {
            // The backward pass leaves the forward pass's values as they are.
            work.grad = seed(&work.block_logits);
            self.store_logits_gradient(work);
            let batch = (x, points);
            self.backward_observed(member, batch, sigma, work, false, |layer, below, delta| {
                if !self.in_chunks {
                    return observe(s, layer, below, delta);
                }
                let [fan_in, fan_out] = self.fans(layer);
                from_chunks(below, fan_in, points, &mut below_rows);
                from_chunks(delta, fan_out, points, &mut delta_rows);
                observe(s, layer, &below_rows, &delta_rows);
            });
        }
        work.input_chunks = input_chunks;
    }

    /// [`DenseStack::forward`] over a block of `points` points, its logits
    /// then point by point in `work.block_logits` whatever the stack's
    /// layout.
    fn forward_to_logits(
        &self,
        member: usize,
        (input, points): (&[f32], usize),
        sigma: &dyn SliceActivation,
        work: &mut Workspace,
    ) {
        self.forward(member, input, sigma, work);
        if self.in_chunks {
            let outputs = self.units[self.layers()];
            from_chunks(&work.logit_chunks, outputs, points, &mut work.block_logits);
        }
    }

    /// `work.grad`, the logits' gradient point by point, as the stack
    /// stores its passes: for a stack stored in chunks, in chunks with zero
    /// in the padding, which then adds nothing to the input gradients below.
    fn store_logits_gradient(&self, work: &mut Workspace) {
        if self.in_chunks {
            to_chunks(&work.grad, self.units[self.layers()], &mut work.grad_below);
            std::mem::swap(&mut work.grad, &mut work.grad_below);
        }
    }

    /// `member`'s forward pass over `input` (`points × inputs`, row-major)
    /// block of rows by block of rows: `observe(layer, z, σ(z), rows)` each
    /// hidden layer's pre-activation and output over a block of `rows`
    /// points, then `observe(hidden layers, logits, logits, rows)` its
    /// logits, each as the stack stores its passes (`rows × units`,
    /// row-major, or in chunks of points for a stack stored so: see
    /// [`DenseStack::in_chunks`]; every block but the last a whole number
    /// of chunks). Nothing is kept for a backward pass: one buffer per
    /// role, reused from layer to layer (the logits their own, so that the
    /// hidden layers' pre-activation keeps its length from block to block
    /// instead of being zero-filled back).
    pub(crate) fn observe_forward(
        &self,
        member: usize,
        input: &[f32],
        sigma: &dyn SliceActivation,
        mut observe: impl FnMut(usize, &[f32], &[f32], usize),
    ) {
        let inputs = self.units[0];
        let hidden = self.layers() - 1;
        let block = self.block_rows(input.len() / inputs);
        let (mut z, mut h, mut below, mut logits, mut input_chunks) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for rows in input.chunks(block * inputs) {
            let points = rows.len() / inputs;
            let rows = self.stored_input(rows, &mut input_chunks);
            for l in 0..=hidden {
                let (weight, bias) = self.layer(member, l);
                let x = if l == 0 { rows } else { &below[..] };
                if l == hidden {
                    self.affine(x, weight, bias, l, &mut logits);
                    observe(l, &logits, &logits, points);
                    break;
                }
                self.affine(x, weight, bias, l, &mut z);
                h.resize(z.len(), 0.0);
                sigma.apply_slice(&z, &mut h);
                observe(l, &z, &h, points);
                std::mem::swap(&mut h, &mut below);
            }
        }
    }

    /// A block of input rows (`rows × inputs`, row-major) as the stack
    /// stores its passes: as they are, or copied into `chunks`.
    fn stored_input<'a>(&self, rows: &'a [f32], chunks: &'a mut Vec<f32>) -> &'a [f32] {
        if !self.in_chunks {
            return rows;
        }
        to_chunks(rows, self.units[0], chunks);
        chunks
    }

    /// The affine map of a layer, stored as the stack stores its passes.
    fn affine(
        &self,
        input: &[f32],
        weight: &[f32],
        bias: &[f32],
        layer: usize,
        out: &mut Vec<f32>,
    ) {
        let fans = self.fans(layer);
        match self.in_chunks {
            true => affine_chunks(input, weight, bias, fans, out),
            false => affine_rows(input, weight, bias, fans, out),
        }
    }

    /// `member`'s forward pass over `input` (`rows × inputs`, row-major, or
    /// in chunks for a stack stored so), into `work`.
    fn forward(
        &self,
        member: usize,
        input: &[f32],
        sigma: &dyn SliceActivation,
        work: &mut Workspace,
    ) {
        let hidden = self.layers() - 1;
        work.pre_activations.resize_with(hidden, Vec::new);
        work.outputs.resize_with(hidden, Vec::new);
        for l in 0..hidden {
            let (weight, bias) = self.layer(member, l);
            let (below, this) = work.outputs.split_at_mut(l);
            let below = below.last().map_or(input, Vec::as_slice);
            let z = &mut work.pre_activations[l];
            self.affine(below, weight, bias, l, z);
            let h = &mut this[0];
            h.resize(z.len(), 0.0);
            sigma.apply_slice(z, h);
        }
        let (weight, bias) = self.layer(member, hidden);
        let below = work.outputs.last().map_or(input, Vec::as_slice);
        let logits = match self.in_chunks {
            true => &mut work.logit_chunks,
            false => &mut work.block_logits,
        };
        self.affine(below, weight, bias, hidden, logits);
    }

    /// `member`'s gradients into `work.param_grads` (added to them with
    /// `accumulate`), from its forward pass over `input` and the logits'
    /// gradient, both in `work`, over the block's `rows`.
    fn backward(
        &self,
        member: usize,
        input: (&[f32], usize),
        sigma: &dyn SliceActivation,
        work: &mut Workspace,
        accumulate: bool,
    ) {
        self.backward_observed(member, input, sigma, work, accumulate, |_, _, _| {});
    }

    /// [`DenseStack::backward`], calling `observe(layer, below, delta)`
    /// with each layer's input and the gradient at its pre-activation, as
    /// the stack stores them, before the layer's own backward pass.
    fn backward_observed(
        &self,
        member: usize,
        (input, rows): (&[f32], usize),
        sigma: &dyn SliceActivation,
        work: &mut Workspace,
        accumulate: bool,
        mut observe: impl FnMut(usize, &[f32], &[f32]),
    ) {
        let layers = self.layers();
        work.param_grads.resize_with(2 * layers, Vec::new);
        for l in (0..layers).rev() {
            if l + 1 < layers {
                let (z, h) = (&work.pre_activations[l], &work.outputs[l]);
                sigma.backward_slice(z, h, &mut work.grad);
            }
            let below = if l == 0 { input } else { &work.outputs[l - 1] };
            observe(l, below, &work.grad);
            let (weight, _) = self.layer(member, l);
            let input_grad = (l > 0).then_some(&mut work.grad_below);
            let [weight_grad, bias_grad] = &mut work.param_grads[2 * l..2 * l + 2] else {
                unreachable!("two gradients per layer")
            };
            let [fan_in, fan_out] = self.fans(l);
            let grads = [weight_grad, bias_grad];
            match self.in_chunks {
                true => {
                    let shape = [fan_in, fan_out, rows];
                    affine_chunks_backward(
                        below, weight, &work.grad, shape, input_grad, grads, accumulate,
                    )
                }
                false => affine_rows_backward(
                    below,
                    weight,
                    &work.grad,
                    [fan_in, fan_out],
                    input_grad,
                    grads,
                    accumulate,
                ),
            }
            std::mem::swap(&mut work.grad, &mut work.grad_below);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    /// The passes stored in chunks against the passes stored point by
    /// point, on the same network and batch: the same logits to the bit
    /// (the products are the same sums in the same order), and the same
    /// gradients within float tolerance (the weight gradients sum over the
    /// points in another order). Several logits, whose rows the loop
    /// transposes, and a batch taken in blocks.
    #[test]
    fn passes_stored_in_chunks_match_passes_stored_point_by_point() {
        use crate::nn::{ActivationRegistry, LayerRegistry, MlpConfig};
        let relu = ActivationRegistry::builtin().get("relu").unwrap();
        let dense = LayerRegistry::builtin().get("dense").unwrap();
        for [depth, width, outputs, points] in [[3, 6, 3, 300], [1, 15, 1, 9000]] {
            let model: Mlp<NdArray> = MlpConfig::new(depth, width, "relu".into())
                .with_output_dim(outputs)
                .init(&relu, &dense, &[5], &Default::default());
            let mut stack = DenseStack::of(&model).unwrap();
            assert!(stack.in_chunks, "every layer of {width} units is narrow");
            if points > 1000 {
                assert!(
                    stack.block_rows(points) < points,
                    "the batch runs in blocks"
                );
            }
            let input: Vec<f32> = (0..points * 2)
                .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
                .collect();
            let labels: Vec<f32> = (0..points * outputs)
                .map(|i| match outputs {
                    1 => (i % 3 == 0) as u8 as f32,
                    _ => (i % outputs == (i / outputs * 7) % outputs) as u8 as f32,
                })
                .collect();
            let sigma = relu.function.slices().unwrap();
            let mut run = |in_chunks: bool| {
                stack.in_chunks = in_chunks;
                let mut work = Workspace::default();
                stack.gradients(0, [&input, &labels], Loss::Bce, sigma, &mut work);
                work
            };
            let (units, rows) = (run(true), run(false));
            assert_eq!(units.logits.len(), points * outputs);
            let same = |(a, b): (&f32, &f32)| a.to_bits() == b.to_bits();
            assert!(
                units.logits.iter().zip(&rows.logits).all(same),
                "logits differ"
            );
            // Within 1e-5 of each gradient's largest entry: an entry near
            // zero is a sum of larger terms, rounded in another order.
            for (a, b) in units.param_grads.iter().zip(&rows.param_grads) {
                let largest = b.iter().fold(0.0f32, |top, v| top.max(v.abs()));
                for (a, b) in a.iter().zip(b) {
                    assert!((a - b).abs() <= 1e-5 * largest, "{a} vs {b}");
                }
            }
        }
    }
}
