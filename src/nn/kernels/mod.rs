//! The compute kernels: what the networks and measures ask of a backend
//! beyond Burn's own ops, each behind a trait with Burn's ops as default.
//!
//! - [`FastAffine`] (`affine.rs`): `h·W + b` as one autodiff node;
//! - [`FastTanh`] (`tanh.rs`): a vectorised tanh whose backward pass reuses
//!   the output;
//! - [`FastMoments`] (`moments.rs`): the per-unit sums and active counts of
//!   the measures in one pass.
//!
//! Flex overrides all three with the plain-Rust loops of this folder
//! (`narrow.rs`, `columns.rs`, `thin.rs`, `flex.rs`, `simd.rs` are their
//! helpers); the other backends keep the defaults. Which backend overrides
//! what is said in `nn/backend.rs`, the one file that names the backends.
//! The rest of `nn` sees the kernels only through these traits, gathered
//! as [`KernelBackend`].

pub mod affine;
pub(crate) mod columns;
mod flex;
pub mod moments;
#[cfg(test)]
mod naive;
mod narrow;
pub(crate) mod simd;
pub mod tanh;
mod thin;

pub use affine::{fast_affine, AffineGradients, FastAffine};
pub use moments::{active_counts, centred_sums, FastMoments};
pub use simd::SimdLevel;
pub use tanh::{fast_tanh, tanh_f32, FastTanh};

/// A backend with every kernel trait: what an [`Activation`] or a
/// [`Layer`] may call in its tensor forms. Implemented for every backend
/// that implements the three traits.
///
/// [`Activation`]: crate::nn::Activation
/// [`Layer`]: crate::nn::Layer
pub trait KernelBackend: FastAffine + FastTanh + FastMoments {}

impl<B: FastAffine + FastTanh + FastMoments> KernelBackend for B {}

#[cfg(test)]
mod tests {
    use super::simd::{capped_at, SimdLevel};
    use super::*;
    use burn::backend::flex::FlexTensor;
    use burn::backend::Flex;
    use burn::tensor::{Tensor, TensorData};

    fn values(count: usize, salt: usize) -> Vec<f32> {
        (0..count)
            .map(|i| (((i * 37 + salt * 11) % 23) as f32 - 11.0) * 0.19)
            .collect()
    }

    fn flex(data: Vec<f32>, dims: [usize; 3]) -> FlexTensor {
        let tensor = Tensor::<Flex, 3>::from_data(TensorData::new(data, dims), &Default::default());
        tensor.into_primitive().tensor()
    }

    /// The bits of every value of a tensor, in row-major order.
    fn floats(tensor: FlexTensor) -> Vec<u32> {
        let tensor = tensor.to_contiguous();
        let (start, count) = (
            tensor.layout().start_offset(),
            tensor.layout().num_elements(),
        );
        tensor.storage::<f32>()[start..start + count]
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    /// The bits of each of three vectors.
    fn bits(vectors: [Vec<f32>; 3]) -> [Vec<u32>; 3] {
        vectors.map(|v| v.into_iter().map(f32::to_bits).collect())
    }

    /// A weight gradient and a bias gradient of `[inner, outer]`, zero.
    fn gradient_zeros([inner, outer]: [usize; 2]) -> (Vec<f32>, Vec<f32>) {
        (vec![0.0; inner * outer], vec![0.0; outer])
    }

    /// Every loop `simd_dispatch!` compiles, run in each copy the CPU has:
    /// the copies must agree to the bit (they differ only in vector width;
    /// every multiply-add is fused, in hardware or in the C library).
    #[test]
    fn every_simd_copy_agrees_bit_for_bit() {
        type Kernel = Box<dyn Fn() -> Vec<Vec<u32>>>;
        let kernels: Vec<(&str, Kernel)> = vec![
            (
                "tanh",
                Box::new(|| {
                    let z = flex(values(3 * 41 * 7, 1), [3, 41, 7]);
                    let y = tanh::flex_tanh(z);
                    let grad = flex(values(3 * 41 * 7, 2), [3, 41, 7]);
                    vec![floats(y.clone()), floats(tanh::flex_tanh_backward(y, grad))]
                }),
            ),
            (
                "narrow products",
                Box::new(|| {
                    // 8-float rows (7 wide), 16-float rows (11 wide), and a
                    // weight gradient in several passes (13 inputs).
                    let mut all = Vec::new();
                    for (inner, outer) in [(5, 7), (10, 11), (13, 14)] {
                        let a = values(53 * inner, 3);
                        let (m, g) = (values(inner * outer, 4), values(53 * outer, 5));
                        let at = |i: usize, j: usize| m[i * outer + j];
                        let product = narrow::product(&a, inner, outer, at, |j| j as f32);
                        let (transposed, sums) =
                            narrow::transposed_product_and_sum(&a, inner, &g, outer);
                        all.extend(bits([product, transposed, sums]));
                    }
                    all
                }),
            ),
            (
                "thin products",
                Box::new(|| {
                    // A thin inner side, a thin outer side, one output.
                    let mut all = Vec::new();
                    for shape @ [inner, outer] in [[2, 75], [70, 3], [500, 1]] {
                        let a = values(37 * inner, 3);
                        let (m, g) = (values(inner * outer, 4), values(37 * outer, 5));
                        let mut out = vec![0.0f32; 37 * outer];
                        thin::product_into(&a, shape, thin::Stored::Rows(&m), None, &mut out);
                        let (mut product, mut sums) = gradient_zeros(shape);
                        thin::add_transposed_product_and_sum(
                            &a,
                            &g,
                            shape,
                            &mut product,
                            &mut sums,
                        );
                        all.extend(bits([out, product, sums]));
                    }
                    all
                }),
            ),
            (
                "products stored in chunks",
                Box::new(|| {
                    // Fan-ins paired and not, with a partial last vector.
                    let mut all = Vec::new();
                    for shape @ [inner, outer] in [[5, 7], [13, 4]] {
                        let a = values(columns::stored_len(53, inner), 3);
                        let m = values(inner * outer, 4);
                        let g = values(columns::stored_len(53, outer), 5);
                        let at = |i: usize, j: usize| m[i * outer + j];
                        let mut out = vec![0.0f32; g.len()];
                        columns::product_into(&a, shape, at, None, &mut out);
                        let (mut product, mut sums) = gradient_zeros(shape);
                        columns::add_transposed_product_and_sum(
                            &a,
                            &g,
                            shape,
                            53,
                            &mut product,
                            &mut sums,
                        );
                        all.extend(bits([out, product, sums]));
                    }
                    all
                }),
            ),
            (
                "moments",
                Box::new(|| {
                    let h = flex(values(2 * 300 * 9, 6), [2, 300, 9]);
                    let shift = flex(values(2 * 9, 7), [2, 1, 9]);
                    let counts = moments::flex_active_counts(h.clone(), 0.5);
                    vec![floats(moments::flex_centred_sums(h, shift)), floats(counts)]
                }),
            ),
        ];
        let cpu = SimdLevel::detected();
        let copies: Vec<SimdLevel> = SimdLevel::ALL.into_iter().filter(|&l| l <= cpu).collect();
        if cpu < SimdLevel::Avx512 {
            eprintln!(
                "this CPU runs copies up to {}: the wider ones are not compared",
                cpu.name()
            );
        }
        for (name, kernel) in kernels {
            let baseline = capped_at(SimdLevel::Baseline, &kernel);
            for &copy in &copies[1..] {
                let wide = capped_at(copy, &kernel);
                assert_eq!(
                    wide,
                    baseline,
                    "{name}: the {} copy differs from the baseline",
                    copy.name()
                );
            }
        }
    }
}
