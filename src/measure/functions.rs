//! Variability measures (METHOD §3) as small functions.
//!
//! The device side works on an ensemble chunk of grid points at a time
//! (every tensor has a leading `members` dimension) and reduces each chunk
//! to a few numbers per member and unit; the host side accumulates those
//! in `f64` and finishes the measures. Grid means are therefore accurate to
//! ~1e-7 relative: each unit is centred on its value at the first grid
//! point before anything is summed (so a constant unit sums exact zeros),
//! chunk sums are short, and the sum over chunks is `f64`. Active pairs are
//! counted per layer and chunk (exact in `f32` below 2²⁴) and added in `f64`.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::nn::kernels::active_counts;
pub use crate::nn::kernels::centred_sums;
use crate::nn::{ActivationSpec, TensorActivation};
use crate::nn::{PreActivationObserver, SupportedBackend};

/// Number of active (point, unit) pairs of one layer, per member: a unit is
/// active where `|σ'(z)| >= ½·sup|σ'|`.
///
/// # Shapes
/// - `pre_activations`: `[members, points, units]`
/// - output: `[members]`
pub fn active_count<B: SupportedBackend>(
    pre_activations: Tensor<B, 3>,
    sigma: &dyn TensorActivation<B>,
    active_threshold: f64,
) -> Tensor<B, 1> {
    active_counts(sigma.slope(pre_activations), active_threshold)
}

/// Counts active (point, unit) pairs of every pre-activation of a forward
/// pass (METHOD §3): the measure room's observer of `Mlp::forward_observed`.
pub struct ActiveUnits<'a, B: Backend> {
    sigma: &'a dyn TensorActivation<B>,
    threshold: f64,
    counts: Vec<Tensor<B, 1>>,
    units: usize,
}

impl<'a, B: SupportedBackend> ActiveUnits<'a, B> {
    /// An observer counting the units `activation` makes active (METHOD §3).
    pub fn new(activation: &'a ActivationSpec) -> Self {
        let sigma = B::tensor_activation(activation.function.as_ref());
        Self {
            sigma,
            threshold: activation.active_threshold,
            counts: Vec::new(),
            units: 0,
        }
    }

    /// One `[members]` count per pre-activation seen (each exact in `f32`
    /// while a chunk holds fewer than 2²⁴ pairs), and the number of hidden
    /// units they came from.
    pub fn finish(self) -> (Vec<Tensor<B, 1>>, usize) {
        (self.counts, self.units)
    }
}

impl<B: SupportedBackend> PreActivationObserver<B> for ActiveUnits<'_, B> {
    fn observe(&mut self, z: &Tensor<B, 3>) {
        self.units += z.dims()[2];
        self.counts
            .push(active_count(z.clone(), self.sigma, self.threshold));
    }
}

/// Frobenius norm of a gradient per member.
///
/// # Shapes
/// - `gradient`: `[members, d_in, d_out]`
/// - output: `[members]`
pub fn frobenius_norm<B: Backend>(gradient: Tensor<B, 3>) -> Tensor<B, 1> {
    let members = gradient.dims()[0];
    gradient
        .square()
        .sum_dim(2)
        .sum_dim(1)
        .sqrt()
        .reshape([members])
}

/// One member's running moments of one representation (a layer's units),
/// accumulated in `f64` from [`centred_sums`] of successive chunks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnitMoments {
    /// Each unit's value at the first grid point: the centre of the sums.
    pub shift: Vec<f64>,
    /// Each unit's sum of `value − shift` over the points so far.
    pub sum: Vec<f64>,
    /// Each unit's sum of `(value − shift)²` over the points so far.
    pub sum_of_squares: Vec<f64>,
    /// Points accumulated so far.
    pub points: usize,
}

impl UnitMoments {
    /// Empty moments centred on `shift` (one value per unit).
    pub fn new(shift: Vec<f64>) -> Self {
        let units = shift.len();
        Self {
            shift,
            sum: vec![0.0; units],
            sum_of_squares: vec![0.0; units],
            points: 0,
        }
    }

    /// Adds a chunk of `points` points: `sums` is one member's row of
    /// [`centred_sums`] (`Σd` for every unit, then `Σd²`).
    pub fn add(&mut self, sums: &[f64], points: usize) {
        let units = self.shift.len();
        for unit in 0..units {
            self.sum[unit] += sums[unit];
            self.sum_of_squares[unit] += sums[units + unit];
        }
        self.points += points;
    }

    /// Relative variation `sqrt(Σ_i Var_x H_i) / sqrt(Σ_i Mean_x H_i²)`;
    /// 0 where the denominator is 0.
    pub fn relative_variation(&self) -> f64 {
        let n = self.points as f64;
        let (mut variance, mut mean_square) = (0.0, 0.0);
        for unit in 0..self.shift.len() {
            let mean_centred = self.sum[unit] / n;
            let unit_variance =
                (self.sum_of_squares[unit] / n - mean_centred * mean_centred).max(0.0);
            let mean = self.shift[unit] + mean_centred;
            variance += unit_variance;
            mean_square += unit_variance + mean * mean;
        }
        if mean_square > 0.0 {
            (variance / mean_square).sqrt()
        } else {
            0.0
        }
    }
}

/// Relative variation of a representation held on the host, row-major
/// `[points, units]`, by the same centred `f64` sums as [`UnitMoments`].
pub fn relative_variation(values: &[f32], units: usize) -> f64 {
    let points = values.len() / units.max(1);
    if points == 0 {
        return 0.0;
    }
    let mut moments = UnitMoments::new(values[..units].iter().map(|&v| v as f64).collect());
    let mut sums = vec![0.0; 2 * units];
    for row in values.chunks_exact(units) {
        for (unit, &value) in row.iter().enumerate() {
            let centred = value as f64 - moments.shift[unit];
            sums[unit] += centred;
            sums[units + unit] += centred * centred;
        }
    }
    moments.add(&sums, points);
    moments.relative_variation()
}

/// Third-order variability `V3 = (mean|Δ³_x F| + mean|Δ³_y F|) / 2 / RMS(F)`
/// of a `G × G` landscape (row-major, rows y, columns x, `G >= 4`), in
/// `f64`; 0 where `RMS(F) = 0`.
pub fn third_order_variability<T: Copy + Into<f64>>(landscape: &[T], size: usize) -> f64 {
    let f = |row: usize, column: usize| landscape[row * size + column].into();
    let third = |a: f64, b: f64, c: f64, d: f64| (d - 3.0 * c + 3.0 * b - a).abs();
    let (mut along_x, mut along_y) = (0.0, 0.0);
    for row in 0..size {
        for column in 0..size - 3 {
            along_x += third(
                f(row, column),
                f(row, column + 1),
                f(row, column + 2),
                f(row, column + 3),
            );
            along_y += third(
                f(column, row),
                f(column + 1, row),
                f(column + 2, row),
                f(column + 3, row),
            );
        }
    }
    let positions = (size * (size - 3)) as f64;
    let rms =
        (landscape.iter().map(|&v| v.into().powi(2)).sum::<f64>() / landscape.len() as f64).sqrt();
    if rms > 0.0 {
        (along_x / positions + along_y / positions) / 2.0 / rms
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    type B = NdArray;

    fn landscape(size: usize, f: impl Fn(f64, f64) -> f64) -> Vec<f32> {
        let grid = crate::problem::landscape_grid(size);
        grid.chunks(2)
            .map(|p| f(p[0] as f64, p[1] as f64) as f32)
            .collect()
    }

    /// `f` on the G × G grid in f64 (exact grid coordinates).
    fn exact_landscape(size: usize, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        let coordinate = |k: usize| -1.0 + 2.0 * k as f64 / (size - 1) as f64;
        (0..size * size)
            .map(|k| f(coordinate(k % size), coordinate(k / size)))
            .collect()
    }

    #[test]
    fn v3_of_x_cubed_is_three_h_cubed_over_rms() {
        // Δ³_x of x³ is 6h³ everywhere and Δ³_y is 0, so V3 = 3h³ / RMS.
        let values = exact_landscape(101, |x, _| x.powi(3));
        let h: f64 = 2.0 / 100.0;
        let rms = (values.iter().map(|v| v * v).sum::<f64>() / values.len() as f64).sqrt();
        let v3 = third_order_variability(&values, 101);
        assert!((v3 - 3.0 * h.powi(3) / rms).abs() < 1e-12, "{v3}");
        assert!((v3 - 6.16517e-5).abs() < 1e-10, "V3 of x³ on G = 101: {v3}");
        // Along y the same: the two directions are treated alike.
        let transposed = third_order_variability(&exact_landscape(101, |_, y| y.powi(3)), 101);
        assert!((transposed - v3).abs() < 1e-15, "{transposed} vs {v3}");
        // RMS, not the standard deviation: a constant added changes V3.
        let lifted = exact_landscape(101, |x, _| x.powi(3) + 2.0);
        let lifted_rms = (lifted.iter().map(|v| v * v).sum::<f64>() / lifted.len() as f64).sqrt();
        let v3_lifted = third_order_variability(&lifted, 101);
        assert!(
            (v3_lifted - 3.0 * h.powi(3) / lifted_rms).abs() < 1e-12,
            "{v3_lifted}"
        );
        assert!(v3_lifted < 0.25 * v3, "{v3_lifted} vs {v3}");
        // Network landscapes are f32: the same value to f32's precision.
        let single = third_order_variability(&landscape(101, |x, _| x.powi(3)), 101);
        assert!((single - v3).abs() < 1e-4 * v3, "{single} vs {v3}");
    }

    #[test]
    fn v3_of_a_quadratic_is_zero() {
        let quadratic =
            |x: f64, y: f64| 0.3 - 1.2 * x + 0.7 * y + 0.9 * x * x - 0.4 * x * y + 1.1 * y * y;
        let v3 = third_order_variability(&landscape(101, quadratic), 101);
        assert!(v3.abs() < 1e-5, "V3 of a quadratic: {v3}");
    }

    #[test]
    fn v3_is_unchanged_by_scaling() {
        let f = |x: f64, y: f64| (9.0 * x).sin() * (7.0 * y).cos() + x * y * y;
        let v3 = third_order_variability(&landscape(101, f), 101);
        let v3_scaled = third_order_variability(&landscape(101, |x, y| 7.0 * f(x, y)), 101);
        assert!(v3 > 1e-3, "V3 {v3}");
        assert!(
            (v3 - v3_scaled).abs() < 1e-5 * v3.max(1.0),
            "{v3} vs {v3_scaled}"
        );
    }

    #[test]
    fn v3_grows_with_frequency() {
        let v3s: Vec<f64> = [1.0, 2.0, 4.0, 8.0, 16.0]
            .iter()
            .map(|&k| third_order_variability(&landscape(101, |x, _| (k * x).sin()), 101))
            .collect();
        assert!(
            v3s.windows(2).all(|w| w[1] > w[0]),
            "V3 of sin(kx): {v3s:?}"
        );
    }

    #[test]
    fn v3_of_zero_is_zero() {
        assert_eq!(third_order_variability(&landscape(11, |_, _| 0.0), 11), 0.0);
    }

    #[test]
    fn relative_variation_of_a_constant_is_zero_and_of_a_centred_signal_one() {
        assert_eq!(relative_variation(&[4.0; 150], 3), 0.0);
        assert_eq!(relative_variation(&[0.0; 150], 3), 0.0);
        let alternating: Vec<f32> = (0..100)
            .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert!((relative_variation(&alternating, 1) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn relative_variation_of_unequal_units_is_the_ratio_of_sums() {
        // Three units with different means and spreads over 40 points: RV is
        // sqrt(Σ Var / Σ Mean²) of the sums over units, not a mean of per-unit ratios.
        let points = 40;
        let unit = |i: usize, k: usize| -> f64 {
            let t = k as f64 / points as f64;
            match i {
                0 => 5.0 + 0.1 * (7.0 * t).sin(),
                1 => -0.3 + 2.0 * t * t,
                _ => 0.02 * (13.0 * t).cos(),
            }
        };
        let values: Vec<f32> = (0..points)
            .flat_map(|k| (0..3).map(move |i| unit(i, k) as f32))
            .collect();
        let (mut variance, mut mean_square) = (0.0, 0.0);
        for i in 0..3 {
            let column: Vec<f64> = (0..points).map(|k| values[3 * k + i] as f64).collect();
            let mean = column.iter().sum::<f64>() / points as f64;
            variance += column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / points as f64;
            mean_square += column.iter().map(|v| v * v).sum::<f64>() / points as f64;
        }
        let expected = (variance / mean_square).sqrt();
        let rv = relative_variation(&values, 3);
        assert!(
            (rv - expected).abs() < 1e-12 * expected.max(1.0),
            "{rv} vs {expected}"
        );
        // The mean of per-unit ratios would be far from it.
        assert!(expected < 0.3, "{expected}");
    }

    /// RV of one unit from device chunks of 512 points, as the measurer takes it.
    fn chunked_relative_variation(values: &[f32]) -> f64 {
        let device = Default::default();
        let tensor = Tensor::<B, 3>::from_data(
            TensorData::new(values.to_vec(), [1, values.len(), 1]),
            &device,
        );
        let shift = tensor.clone().narrow(1, 0, 1);
        let mut moments = UnitMoments::new(vec![values[0] as f64]);
        for start in (0..values.len()).step_by(512) {
            let len = 512.min(values.len() - start);
            let sums = centred_sums(tensor.clone().narrow(1, start, len), shift.clone());
            moments.add(
                &sums.into_data().convert::<f64>().to_vec::<f64>().unwrap(),
                len,
            );
        }
        moments.relative_variation()
    }

    #[test]
    fn a_constant_layer_with_tiny_noise_reads_tiny() {
        // A unit at 3.7 plus 1e-7 relative noise over the 10,201 grid points:
        // its RV is ~1e-7, not the ~1e-4 floor of a running f32 mean.
        let values: Vec<f32> = (0..10_201)
            .map(|k| (3.7 * (1.0 + 1e-7 * ((k * 7919 % 1000) as f64 / 500.0 - 1.0))) as f32)
            .collect();
        let rv = chunked_relative_variation(&values);
        assert!(rv <= 1e-6, "RV of a constant plus 1e-7 noise: {rv}");
        assert!(relative_variation(&values, 1) <= 1e-6);
        // A unit that does vary is read right by the same path.
        let varying: Vec<f32> = (0..10_201)
            .map(|k| 3.7 + ((k % 101) as f32 / 50.0 - 1.0))
            .collect();
        assert!(
            (chunked_relative_variation(&varying) - relative_variation(&varying, 1)).abs() < 1e-6
        );
    }

    #[test]
    fn centred_sums_over_chunks_give_the_host_relative_variation() {
        let device = Default::default();
        let values: Vec<f32> = (0..60)
            .map(|k| ((k * 37 % 11) as f32 - 4.0) * 0.3 + (k % 3) as f32)
            .collect();
        let tensor =
            Tensor::<B, 3>::from_data(TensorData::new(values.clone(), [1, 20, 3]), &device);
        let shift = tensor.clone().narrow(1, 0, 1);
        let mut moments = UnitMoments::new(values[..3].iter().map(|&v| v as f64).collect());
        for (start, len) in [(0, 7), (7, 13)] {
            let sums = centred_sums(tensor.clone().narrow(1, start, len), shift.clone());
            moments.add(
                &sums.into_data().convert::<f64>().to_vec::<f64>().unwrap(),
                len,
            );
        }
        let whole = relative_variation(&values, 3);
        assert!(
            (moments.relative_variation() - whole).abs() < 1e-6,
            "{} vs {whole}",
            moments.relative_variation()
        );
    }

    #[test]
    fn frobenius_norm_per_member() {
        let device = Default::default();
        let g = Tensor::<B, 3>::from_data(
            TensorData::new(vec![3.0f32, 4.0, 0.0, 0.0, 1.0, 0.0], [2, 1, 3]),
            &device,
        );
        assert_eq!(
            frobenius_norm(g).into_data().to_vec::<f32>().unwrap(),
            vec![5.0, 1.0]
        );
    }
}
