//! Variability measures at initialisation (METHOD §3), as small tensor
//! functions over an ensemble: every input has a leading `members`
//! dimension and every output has one value per member.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::nn::activation::{ActivationSpec, TensorActivation};
use crate::nn::{PreActivationObserver, SupportedBackend};

/// Guards divisions whose numerator is zero whenever the denominator is.
const TINY: f32 = f32::MIN_POSITIVE;

/// Number of active (point, unit) pairs of one layer, per member: a unit is
/// active where `|σ'(z)| >= ½·sup|σ'|`.
///
/// # Shapes
/// - `pre_activations`: `[members, points, units]`
/// - output: `[members]`
pub fn active_count<B: Backend>(
    pre_activations: Tensor<B, 3>,
    sigma: &dyn TensorActivation<B>,
    active_threshold: f64,
) -> Tensor<B, 1> {
    let members = pre_activations.dims()[0];
    let active = sigma.slope(pre_activations).abs().greater_equal_elem(active_threshold).float();
    active.sum_dim(2).sum_dim(1).reshape([members])
}

/// Counts active (point, unit) pairs over every pre-activation of a forward
/// pass (METHOD §3): the measure room's observer of `Mlp::forward_observed`.
pub struct ActiveUnits<'a, B: Backend> {
    sigma: &'a dyn TensorActivation<B>,
    threshold: f64,
    active: Vec<Tensor<B, 1>>,
    units: usize,
}

impl<'a, B: SupportedBackend> ActiveUnits<'a, B> {
    pub fn new(activation: &'a ActivationSpec) -> Self {
        let sigma = B::tensor_activation(activation.function.as_ref());
        Self { sigma, threshold: activation.active_threshold, active: Vec::new(), units: 0 }
    }

    /// Active pairs per member (`[members]`), summed over every
    /// pre-activation seen, and the number of hidden units they came from.
    pub fn finish(self, members: usize, device: &B::Device) -> (Tensor<B, 1>, usize) {
        let total = self.active.into_iter().reduce(|a, b| a + b).unwrap_or_else(|| Tensor::zeros([members], device));
        (total, self.units)
    }
}

impl<B: Backend> PreActivationObserver<B> for ActiveUnits<'_, B> {
    fn observe(&mut self, z: &Tensor<B, 3>) {
        self.units += z.dims()[2];
        self.active.push(active_count(z.clone(), self.sigma, self.threshold));
    }
}

/// Relative variation `sqrt(Σ_i Var_x H_i) / sqrt(Σ_i Mean_x H_i²)` of a
/// representation, per member; 0 where the denominator is 0.
///
/// # Shapes
/// - `representation`: `[members, points, units]`
/// - output: `[members]`
pub fn relative_variation<B: Backend>(representation: Tensor<B, 3>) -> Tensor<B, 1> {
    let members = representation.dims()[0];
    let mean = representation.clone().mean_dim(1);
    let variance = (representation.clone() - mean).square().mean_dim(1).sum_dim(2);
    let mean_square = representation.square().mean_dim(1).sum_dim(2);
    (variance / mean_square.clamp_min(TINY)).sqrt().reshape([members])
}

/// Third-order variability `V3` of output landscapes, per member:
/// `(mean|Δ³_x F| + mean|Δ³_y F|) / 2 / RMS(F)`, 0 where `RMS(F) = 0`.
///
/// # Shapes
/// - `landscapes`: `[members, G, G]` (rows: y, columns: x), `G >= 4`
/// - output: `[members]`
pub fn third_order_variability<B: Backend>(landscapes: Tensor<B, 3>) -> Tensor<B, 1> {
    let [members, rows, columns] = landscapes.dims();
    let mean_abs_third_difference = |dim: usize, len: usize| {
        let n = len - 3;
        let f = |offset: usize| landscapes.clone().narrow(dim, offset, n);
        let third = f(3) - f(2) * 3.0 + f(1) * 3.0 - f(0);
        third.abs().mean_dim(2).mean_dim(1)
    };
    let along_x = mean_abs_third_difference(2, columns);
    let along_y = mean_abs_third_difference(1, rows);
    let rms = landscapes.clone().square().mean_dim(2).mean_dim(1).sqrt();
    ((along_x + along_y) / 2.0 / rms.clamp_min(TINY)).reshape([members])
}

/// Frobenius norm of a gradient per member.
///
/// # Shapes
/// - `gradient`: `[members, d_in, d_out]`
/// - output: `[members]`
pub fn frobenius_norm<B: Backend>(gradient: Tensor<B, 3>) -> Tensor<B, 1> {
    let members = gradient.dims()[0];
    gradient.square().sum_dim(2).sum_dim(1).sqrt().reshape([members])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    type B = NdArray;

    fn landscape(size: usize, f: impl Fn(f64, f64) -> f64) -> Tensor<B, 3> {
        let grid = crate::problem::landscape_grid(size);
        let values: Vec<f32> = grid.chunks(2).map(|p| f(p[0] as f64, p[1] as f64) as f32).collect();
        Tensor::from_data(TensorData::new(values, [1, size, size]), &Default::default())
    }

    fn scalar(t: Tensor<B, 1>) -> f64 {
        t.into_data().to_vec::<f32>().unwrap()[0] as f64
    }

    #[test]
    fn v3_of_a_quadratic_is_zero() {
        let quadratic = |x: f64, y: f64| 0.3 - 1.2 * x + 0.7 * y + 0.9 * x * x - 0.4 * x * y + 1.1 * y * y;
        let v3 = scalar(third_order_variability(landscape(101, quadratic)));
        assert!(v3.abs() < 1e-5, "V3 of a quadratic: {v3}");
    }

    #[test]
    fn v3_is_unchanged_by_scaling() {
        let f = |x: f64, y: f64| (9.0 * x).sin() * (7.0 * y).cos() + x * y * y;
        let v3 = scalar(third_order_variability(landscape(101, f)));
        let v3_scaled = scalar(third_order_variability(landscape(101, |x, y| 7.0 * f(x, y))));
        assert!(v3 > 1e-3, "V3 {v3}");
        assert!((v3 - v3_scaled).abs() < 1e-5 * v3.max(1.0), "{v3} vs {v3_scaled}");
    }

    #[test]
    fn v3_grows_with_frequency() {
        let v3s: Vec<f64> = [1.0, 2.0, 4.0, 8.0, 16.0]
            .iter()
            .map(|&k| scalar(third_order_variability(landscape(101, |x, _| (k * x).sin()))))
            .collect();
        assert!(v3s.windows(2).all(|w| w[1] > w[0]), "V3 of sin(kx): {v3s:?}");
    }

    #[test]
    fn v3_of_zero_is_zero() {
        let v3 = scalar(third_order_variability(landscape(11, |_, _| 0.0)));
        assert_eq!(v3, 0.0);
    }

    #[test]
    fn relative_variation_of_a_constant_is_zero_and_of_a_centred_signal_one() {
        let device = Default::default();
        let constant = Tensor::<B, 3>::ones([2, 50, 3], &device) * 4.0;
        assert_eq!(relative_variation(constant).into_data().to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
        let zeros = Tensor::<B, 3>::zeros([1, 50, 3], &device);
        assert_eq!(scalar(relative_variation(zeros)), 0.0);
        let alternating: Vec<f32> = (0..100).map(|k| if k % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let centred = Tensor::<B, 3>::from_data(TensorData::new(alternating, [1, 100, 1]), &device);
        assert!((scalar(relative_variation(centred)) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn frobenius_norm_per_member() {
        let device = Default::default();
        let g = Tensor::<B, 3>::from_data(TensorData::new(vec![3.0f32, 4.0, 0.0, 0.0, 1.0, 0.0], [2, 1, 3]), &device);
        assert_eq!(frobenius_norm(g).into_data().to_vec::<f32>().unwrap(), vec![5.0, 1.0]);
    }
}
