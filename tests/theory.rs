//! The infinite-width theory against Monte Carlo: wide random networks
//! (width 1000) measured layer by layer agree with the predicted RV profile.

use burn::backend::{Autodiff, Flex};
use variability::measure::{MeasureConfig, Measurer};
use variability::nn::{ActivationRegistry, LayerRegistry, MlpConfig};
use variability::problem::ProblemConfig;
use variability::seed::network_seed;
use variability::theory::Theory;

type B = Autodiff<Flex>;

/// Mean measured RV_l of `seeds` networks, and the predicted RV_l.
fn measured_and_predicted(
    name: &str,
    width: usize,
    depth: usize,
    grid: usize,
    seeds: usize,
) -> (Vec<f64>, Vec<f64>) {
    let activation = ActivationRegistry::builtin().get(name).unwrap();
    let dense = LayerRegistry::builtin().get("dense").unwrap();
    let config = MlpConfig::new(depth, width, name.into());
    let measurer = Measurer::<B>::new(
        MeasureConfig::new().with_grid(grid),
        ProblemConfig::new().with_train_size(16),
        0,
        &Default::default(),
    );
    let seeds: Vec<u64> = (0..seeds)
        .map(|i| network_seed(7, name, depth, i))
        .collect();
    let measures = measurer.measure(&config, &activation, &dense, &seeds);
    let measured = (0..depth)
        .map(|l| measures.iter().map(|m| m.rv_layers[l]).sum::<f64>() / measures.len() as f64)
        .collect();
    let (predicted, _) = Theory::new(&activation, width).rv_profile(depth, grid, 4000, 0);
    (measured, predicted)
}

#[test]
fn predicted_rv_matches_wide_networks_at_depths_one_to_eight() {
    for name in ["relu", "abs", "tanh"] {
        let (measured, predicted) = measured_and_predicted(name, 1000, 8, 21, 3);
        for (layer, (m, p)) in measured.iter().zip(&predicted).enumerate() {
            // Finite width (1/n) and the pair sample (4000 pairs) both stay
            // well inside this tolerance.
            assert!(
                (m - p).abs() < TOLERANCE * p.max(0.05),
                "{name} layer {}: measured {m:.4}, predicted {p:.4}",
                layer + 1
            );
        }
        println!("{name}: measured {measured:.3?}\n{name}: predicted {predicted:.3?}");
    }
}

const TOLERANCE: f64 = 0.1;

/// Lu, Su & Karniadakis 2018's single-input collapse probability against a
/// Monte Carlo under their assumptions: ReLU, weights and biases from
/// symmetric continuous distributions (here N(0, 2/(fan_in + 1)), METHOD's
/// init), one input point, dead when some hidden layer is all zeros there.
/// Breaking the formula (2⁻⁽ⁿ⁻¹⁾ per layer, or one layer fewer) fails it.
#[test]
fn relu_death_probability_matches_monte_carlo() {
    use rand::RngExt;
    use rand_distr::StandardNormal;
    use variability::seed::host_rng;
    use variability::theory::relu_death_probability;

    let mut rng = host_rng(11);
    let networks = 20_000;
    for (width, depth) in [(1, 1), (2, 3), (3, 8), (4, 16)] {
        let mut dead = 0;
        for _ in 0..networks {
            // A dead layer stays the network's bottleneck even though the
            // next layer's biases make its output nonzero again (a constant).
            let mut died = false;
            let mut h = vec![0.3f64, -0.7];
            for _ in 0..depth {
                let std = (2.0 / (h.len() as f64 + 1.0)).sqrt();
                let mut next = Vec::with_capacity(width);
                for _ in 0..width {
                    let bias: f64 = std * rng.sample::<f64, _>(StandardNormal);
                    let z = h.iter().fold(bias, |acc, v| {
                        acc + v * std * rng.sample::<f64, _>(StandardNormal)
                    });
                    next.push(z.max(0.0));
                }
                died |= next.iter().all(|&v| v == 0.0);
                h = next;
            }
            dead += usize::from(died);
        }
        let measured = dead as f64 / networks as f64;
        let predicted = relu_death_probability(width, depth);
        let standard_error = (predicted * (1.0 - predicted) / networks as f64).sqrt();
        // Four standard errors: a wrong exponent (2⁻⁽ⁿ⁻¹⁾, or L − 1 layers)
        // is off by tens of them at these sizes.
        assert!(
            (measured - predicted).abs() < 4.0 * standard_error,
            "width {width}, depth {depth}: Monte Carlo {measured:.4}, formula {predicted:.4}"
        );
    }
}
