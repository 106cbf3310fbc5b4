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
    let problem = ProblemConfig::new().with_train_size(16);
    let data = problem.data(0, grid, 1).unwrap();
    let measurer = Measurer::<B>::new(
        MeasureConfig::new().with_grid(grid).with_proxies(false),
        problem,
        &data,
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
