//! Infinite-width theory for METHOD §2's init (METHOD §8): the mean-field
//! recursions of signal propagation (Poole et al. 2016, "Exponential
//! expressivity in deep neural networks through transient chaos";
//! Schoenholz et al. 2017, "Deep information propagation"), written for the
//! scaled init where every pre-activation is `z = Σ W h + b` with `W` and `b`
//! drawn `N(0, g²/(fan_in + 1))`:
//!
//! - the variance map `q ↦ g²/(n+1)·(n·E[σ(z)²] + 1)`, `z ~ N(0, q)`, from
//!   `q¹(x) = g²/3·(|x|² + 1)`, and its fixed point `q*`;
//! - the covariance of two inputs, `g²/(n+1)·(n·E[σ(z)σ(z′)] + 1)` over the
//!   jointly Gaussian pair; the correlation map `c ↦ c′` at `q*`, its fixed
//!   point `c*`, its slope `χ_c = g²·n/(n+1)·E[σ′(z)σ′(z′)]` there, and the
//!   depth scale `ξ = −1/ln χ_c`;
//! - the predicted relative variation of each layer on the landscape grid,
//!   `RV_l² = 1 − ⟨K_l(x, x′)⟩ / ⟨K_l(x, x)⟩` over a seeded sample of grid
//!   pairs, `K_l` the post-activation kernel (and the output's covariance
//!   for `RV_out`);
//! - for ReLU, the probability that a narrow network is dead at an input
//!   (Lu, Su & Karniadakis 2018), drawn beside the measured C2C frequency.
//!
//! Expectations are closed forms where the activation has them (relu, abs
//! and leaky relu: the arc-cosine kernels of Cho & Saul 2009, "Kernel
//! methods for deep learning"); else Gauss–Legendre panels that break at the
//! activation's kinks, for a kinked σ; else Gauss–Hermite quadrature, for a
//! smooth one. So any activation, parametric or user-written, gets its
//! theory, and a kink costs it no accuracy.
//! Checks by hand: `q* = 2` for relu and `1` for abs at any width (the bias
//! term balances the `n/(n+1)` shrink), and the slope at `c = 1` is `n/(n+1)`.

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::nn::activation::{gauss_hermite, gauss_legendre};
use crate::nn::ActivationSpec;
use crate::problem::landscape_grid;
use crate::seed::{derive_seed, host_rng};

/// Gauss–Hermite nodes, for smooth activations (a kink inside the rule
/// makes its error fall only as 1/nodes: −2.3% on relu's `RV_8` at width 16
/// with 64 nodes, which is why kinked activations do not use it).
const NODES: usize = 64;

/// The piecewise rule: Gauss–Legendre nodes per panel, the widest panel and
/// the half-width of the standard normal it covers (the mass beyond 9 is
/// below 1e-18), all in units of one standard deviation.
const PANEL_NODES: usize = 16;
const PANEL_WIDTH: f64 = 1.5;
const TAIL: f64 = 9.0;

/// `E[f(u)]`, `u ~ N(0, 1)`: Gauss–Hermite nodes `√2·x_i` and weights
/// `w_i/√π`, and Gauss–Legendre nodes on `[−1, 1]` for the panels.
struct Quadrature {
    nodes: Vec<f64>,
    weights: Vec<f64>,
    panel_nodes: Vec<f64>,
    panel_weights: Vec<f64>,
}

impl Quadrature {
    fn new(count: usize) -> Self {
        let (nodes, weights) = gauss_hermite(count);
        let (panel_nodes, panel_weights) = gauss_legendre(PANEL_NODES);
        Self {
            nodes: nodes.iter().map(|x| std::f64::consts::SQRT_2 * x).collect(),
            weights: weights
                .iter()
                .map(|w| w / std::f64::consts::PI.sqrt())
                .collect(),
            panel_nodes,
            panel_weights,
        }
    }

    /// `∫ f(u)·φ(u) du` over `[−TAIL, TAIL]` (φ the standard normal
    /// density), in Gauss–Legendre panels no wider than `PANEL_WIDTH` that
    /// also break at `breaks`, where `f` is not smooth: a rule whose panels
    /// each see a smooth integrand is exact to rounding.
    fn piecewise(&self, breaks: impl Iterator<Item = f64>, f: impl Fn(f64) -> f64) -> f64 {
        let mut cuts: Vec<f64> = breaks.filter(|b| b.abs() < TAIL).collect();
        cuts.extend([-TAIL, TAIL]);
        cuts.sort_by(f64::total_cmp);
        cuts.dedup();
        let density = |u: f64| (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let mut total = 0.0;
        for piece in cuts.windows(2) {
            let (low, high) = (piece[0], piece[1]);
            let panels = ((high - low) / PANEL_WIDTH).ceil().max(1.0);
            let half = (high - low) / panels / 2.0;
            for panel in 0..panels as usize {
                let centre = low + half * (2 * panel + 1) as f64;
                for (x, w) in self.panel_nodes.iter().zip(&self.panel_weights) {
                    let u = centre + half * x;
                    total += w * half * f(u) * density(u);
                }
            }
        }
        total
    }

    /// `E[f(z)]`, `z ~ N(0, variance)`, for an `f` with kinks at `kinks`
    /// (none: a smooth `f`, and Gauss–Hermite).
    fn expect_kinked(&self, variance: f64, kinks: &[f64], f: impl Fn(f64) -> f64) -> f64 {
        if kinks.is_empty() {
            return self.expect(variance, f);
        }
        let scale = variance.max(0.0).sqrt();
        if scale == 0.0 {
            return f(0.0);
        }
        self.piecewise(kinks.iter().map(|k| k / scale), |u| f(scale * u))
    }

    /// `E[f(z)·f(z′)]` as [`Quadrature::expect_pair`], for an `f` with
    /// kinks at `kinks` (none: Gauss–Hermite): the outer integral breaks
    /// where `f(z)` kinks, the inner one, for each outer point, where `f(z′)`
    /// does.
    fn expect_pair_kinked(
        &self,
        [a, b, c]: [f64; 3],
        kinks: &[f64],
        f: impl Fn(f64) -> f64,
    ) -> f64 {
        if kinks.is_empty() {
            return self.expect_pair(a, b, c, f);
        }
        let (sa, sb) = (a.max(0.0).sqrt(), b.max(0.0).sqrt());
        if sa == 0.0 || sb == 0.0 {
            return self.expect_kinked(a, kinks, &f) * self.expect_kinked(b, kinks, &f);
        }
        let rho = (c / (sa * sb)).clamp(-1.0, 1.0);
        let rest = (1.0 - rho * rho).max(0.0).sqrt();
        // The outer integral breaks where f(z) kinks, and around where the
        // inner one's kink crosses the inner mean, `u = k/(√b·ρ)`: there the
        // inner integral turns over within `rest/|ρ|`, which near ρ = ±1 is
        // far narrower than a panel, so it gets panels of its own scale.
        let mut outer: Vec<f64> = kinks.iter().map(|k| k / sa).collect();
        if rest > 0.0 && rho != 0.0 {
            let scale = rest / rho.abs();
            for k in kinks {
                let centre = k / (sb * rho);
                for step in [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
                    outer.extend([centre - step * scale, centre + step * scale]);
                }
            }
        }
        self.piecewise(outer.into_iter(), |u| {
            let first = f(sa * u);
            if first == 0.0 {
                return 0.0;
            }
            if rest == 0.0 {
                return first * f(sb * rho * u);
            }
            let inner = kinks.iter().map(|k| (k / sb - rho * u) / rest);
            first * self.piecewise(inner, |v| f(sb * (rho * u + rest * v)))
        })
    }

    /// `E[f(z)]`, `z ~ N(0, variance)`.
    fn expect(&self, variance: f64, f: impl Fn(f64) -> f64) -> f64 {
        let scale = variance.max(0.0).sqrt();
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(u, w)| w * f(scale * u))
            .sum()
    }

    /// `E[f(z)·f(z′)]` for `(z, z′)` jointly Gaussian with variances `a`,
    /// `b` and covariance `c`.
    fn expect_pair(&self, a: f64, b: f64, c: f64, f: impl Fn(f64) -> f64) -> f64 {
        let (sa, sb) = (a.max(0.0).sqrt(), b.max(0.0).sqrt());
        let rho = if sa * sb > 0.0 {
            (c / (sa * sb)).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let rest = (1.0 - rho * rho).max(0.0).sqrt();
        let mut total = 0.0;
        for (u, wu) in self.nodes.iter().zip(&self.weights) {
            let first = f(sa * u);
            if first == 0.0 {
                continue;
            }
            let inner: f64 = self
                .nodes
                .iter()
                .zip(&self.weights)
                .map(|(v, wv)| wv * f(sb * (rho * u + rest * v)))
                .sum();
            total += wu * first * inner;
        }
        total
    }
}

/// What the theory predicts for one activation at one width and depth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The activation's name.
    pub activation: String,
    /// Number of hidden layers `L`.
    pub depth: usize,
    /// Units per hidden layer `n`.
    pub width: usize,
    /// The activation's gain `g_σ` (METHOD §2).
    pub gain: f64,
    /// Fixed point of the variance map; `None` when the map diverges (the
    /// gain, set at `q = 1`, then grows the signal layer after layer).
    pub q_star: Option<f64>,
    /// Fixed point of the correlation map (from `c = 0`), at `q*`.
    pub c_star: Option<f64>,
    /// Slope of the correlation map at `c*`.
    pub chi_c: Option<f64>,
    /// `−1/ln χ_c`; `None` (infinite) when `χ_c >= 1` or there is no `q*`.
    pub depth_scale: Option<f64>,
    /// Predicted `RV_l` of each hidden layer, input side first.
    pub rv_layers: Vec<f64>,
    /// Predicted `RV_out` of the linear output layer.
    pub rv_out: f64,
}

/// The theory of one activation and width.
pub struct Theory<'a> {
    activation: &'a ActivationSpec,
    width: usize,
    quadrature: Quadrature,
    /// The activation's kinks, asked once (the expectations run per pair
    /// and layer).
    kinks: Vec<f64>,
}

impl<'a> Theory<'a> {
    /// The theory of `activation` at hidden width `width`.
    pub fn new(activation: &'a ActivationSpec, width: usize) -> Self {
        Self {
            activation,
            width,
            quadrature: Quadrature::new(NODES),
            kinks: activation.function.kinks(),
        }
    }

    fn sigma(&self, z: f64) -> f64 {
        self.activation.function.value(z)
    }

    /// `E[σ(z)²]`, `z ~ N(0, q)`, as [`Theory::cross`] picks its method.
    fn square_mean(&self, q: f64) -> f64 {
        let function = &self.activation.function;
        function.gaussian_product(q, q, q).unwrap_or_else(|| {
            self.quadrature
                .expect_kinked(q, &self.kinks, |z| self.sigma(z).powi(2))
        })
    }

    /// `E[σ(z)·σ(z′)]` for the pair of variances `a`, `b` and covariance
    /// `c`: the activation's closed form, else the piecewise rule for a
    /// kinked σ, else Gauss–Hermite.
    fn cross(&self, [a, b, c]: [f64; 3]) -> f64 {
        let function = &self.activation.function;
        function.gaussian_product(a, b, c).unwrap_or_else(|| {
            self.quadrature
                .expect_pair_kinked([a, b, c], &self.kinks, |z| self.sigma(z))
        })
    }

    /// `E[σ′(z)·σ′(z′)]`, as [`Theory::cross`].
    fn slope_cross(&self, [a, b, c]: [f64; 3]) -> f64 {
        let function = &self.activation.function;
        function.gaussian_slope_product(a, b, c).unwrap_or_else(|| {
            self.quadrature
                .expect_pair_kinked([a, b, c], &self.kinks, |z| function.derivative(z))
        })
    }

    /// `g²/(n+1)·(n·k + 1)`: the next layer's pre-activation covariance from
    /// this layer's post-activation kernel `k`.
    fn next(&self, kernel: f64) -> f64 {
        let n = self.width as f64;
        self.activation.gain.powi(2) / (n + 1.0) * (n * kernel + 1.0)
    }

    /// One step of the variance map.
    pub fn variance_map(&self, q: f64) -> f64 {
        self.next(self.square_mean(q))
    }

    /// The fixed point `q*` of the variance map (iterated from 1).
    pub fn q_star(&self) -> f64 {
        fixed_point(1.0, |q| self.variance_map(q))
    }

    /// The correlation map at `q*`: `c ↦ g²/(n+1)·(n·E[σσ′] + 1)/q*`.
    pub fn correlation_map(&self, q_star: f64, c: f64) -> f64 {
        let kernel = self.cross([q_star, q_star, c * q_star]);
        self.next(kernel) / q_star
    }

    /// The slope of the correlation map at `c`: `g²·n/(n+1)·E[σ′(z)σ′(z′)]`.
    pub fn correlation_slope(&self, q_star: f64, c: f64) -> f64 {
        let n = self.width as f64;
        let slopes = self.slope_cross([q_star, q_star, c * q_star]);
        self.activation.gain.powi(2) * n / (n + 1.0) * slopes
    }

    /// Everything at once, the RV profile from `pairs` seeded grid pairs.
    pub fn predict(&self, depth: usize, grid: usize, pairs: usize, seed: u64) -> Prediction {
        let q_star = Some(self.q_star()).filter(|q| q.is_finite() && *q < 1e12);
        let c_star =
            q_star.map(|q| fixed_point(0.0, |c| self.correlation_map(q, c).clamp(-1.0, 1.0)));
        let chi_c = q_star
            .zip(c_star)
            .map(|(q, c)| self.correlation_slope(q, c));
        let depth_scale = chi_c
            .filter(|chi| *chi > 0.0 && *chi < 1.0)
            .map(|chi| -1.0 / chi.ln());
        let (rv_layers, rv_out) = self.rv_profile(depth, grid, pairs, seed);
        Prediction {
            activation: self.activation.name().to_string(),
            depth,
            width: self.width,
            gain: self.activation.gain,
            q_star,
            c_star,
            chi_c,
            depth_scale,
            rv_layers,
            rv_out,
        }
    }

    /// Predicted `RV_l` per hidden layer and `RV_out`, following each pair's
    /// covariances `(Q(x,x), Q(x′,x′), Q(x,x′))` layer by layer.
    pub fn rv_profile(
        &self,
        depth: usize,
        grid: usize,
        pairs: usize,
        seed: u64,
    ) -> (Vec<f64>, f64) {
        let points = landscape_grid(grid);
        let mut rng = host_rng(derive_seed(seed, &[b"theory-pairs"]));
        let total = grid * grid;
        let first_layer = self.activation.gain.powi(2) / 3.0;
        let input = |k: usize| (points[2 * k] as f64, points[2 * k + 1] as f64);
        let mut covariances: Vec<[f64; 3]> = (0..pairs)
            .map(|_| {
                let ((x1, y1), (x2, y2)) = (
                    input(rng.random_range(0..total)),
                    input(rng.random_range(0..total)),
                );
                [
                    first_layer * (x1 * x1 + y1 * y1 + 1.0),
                    first_layer * (x2 * x2 + y2 * y2 + 1.0),
                    first_layer * (x1 * x2 + y1 * y2 + 1.0),
                ]
            })
            .collect();
        let mut rv_layers = Vec::with_capacity(depth);
        let mut kernels = Vec::new();
        for _ in 0..depth {
            kernels = covariances
                .iter()
                .map(|&[a, b, c]| {
                    [
                        self.square_mean(a),
                        self.square_mean(b),
                        self.cross([a, b, c]),
                    ]
                })
                .collect();
            rv_layers.push(relative_variation(&kernels));
            covariances = kernels.iter().map(|k| k.map(|v| self.next(v))).collect();
        }
        // The output layer is linear, drawn with gain 1 (METHOD §2).
        let n = self.width as f64;
        let output: Vec<[f64; 3]> = kernels
            .iter()
            .map(|k| k.map(|v| (n * v + 1.0) / (n + 1.0)))
            .collect();
        (rv_layers, relative_variation(&output))
    }
}

/// Probability that a ReLU network of `depth` hidden layers of `width`
/// units is dead at a given input: some hidden layer outputs all zeros
/// there, so the network's output at that input no longer depends on it.
///
/// This is the single-input collapse argument of Lu, Su & Karniadakis 2018,
/// "Collapse of deep and narrow neural nets" (arXiv 1808.04947, §4), for
/// weights and biases drawn from symmetric continuous distributions (METHOD
/// §2's scaled normal init is one): given a live layer input `h ≠ 0`, each
/// unit's pre-activation `w·h + b` is symmetric and continuous, so the `n`
/// units are all `≤ 0` with probability `2⁻ⁿ`, independently of the earlier
/// layers. Hence `P = 1 − (1 − 2⁻ⁿ)^L`, derived here from that argument
/// and checked by Monte Carlo (`tests/theory.rs`). A network that is dead
/// everywhere is dead at any one input, so this bounds the probability of
/// exact collapse from above; METHOD's C2C (`RV_out < ε`) also counts
/// networks that are nearly constant, which this does not.
pub fn relu_death_probability(width: usize, depth: usize) -> f64 {
    let layer_dead = 0.5f64.powi(width.min(i32::MAX as usize) as i32);
    // 1 − (1 − p)^L without cancellation for small p.
    -((depth as f64) * (-layer_dead).ln_1p()).exp_m1()
}

/// `sqrt(1 − ⟨K(x,x′)⟩/⟨K(x,x)⟩)` over sampled pairs `[K(x,x), K(x′,x′), K(x,x′)]`.
fn relative_variation(kernels: &[[f64; 3]]) -> f64 {
    let cross = kernels.iter().map(|k| k[2]).sum::<f64>();
    let diagonal = kernels.iter().map(|k| 0.5 * (k[0] + k[1])).sum::<f64>();
    if diagonal > 0.0 {
        (1.0 - cross / diagonal).max(0.0).sqrt()
    } else {
        0.0
    }
}

/// Iterates `map` from `start` until it stops moving (at most 10,000 steps).
fn fixed_point(start: f64, map: impl Fn(f64) -> f64) -> f64 {
    let mut value = start;
    for _ in 0..10_000 {
        let next = map(value);
        if (next - value).abs() <= 1e-13 * next.abs().max(1.0) {
            return next;
        }
        value = next;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ActivationRegistry;

    fn spec(name: &str) -> ActivationSpec {
        ActivationRegistry::builtin().get(name).unwrap()
    }

    #[test]
    fn q_star_is_two_for_relu_and_one_for_abs_at_any_width() {
        for width in [3, 16, 500] {
            let (relu, abs) = (spec("relu"), spec("abs"));
            let q_relu = Theory::new(&relu, width).q_star();
            let q_abs = Theory::new(&abs, width).q_star();
            assert!(
                (q_relu - 2.0).abs() < 1e-6,
                "relu width {width}: q* = {q_relu}"
            );
            assert!(
                (q_abs - 1.0).abs() < 1e-6,
                "abs width {width}: q* = {q_abs}"
            );
        }
    }

    #[test]
    fn the_correlation_slope_at_one_is_n_over_n_plus_one() {
        for name in ["relu", "abs"] {
            let activation = spec(name);
            for width in [5, 16, 200] {
                let theory = Theory::new(&activation, width);
                let q = theory.q_star();
                let slope = theory.correlation_slope(q, 1.0);
                let expected = width as f64 / (width as f64 + 1.0);
                assert!(
                    (slope - expected).abs() < 1e-6,
                    "{name} width {width}: {slope} vs {expected}"
                );
                // c = 1 is a fixed point of the correlation map.
                assert!((theory.correlation_map(q, 1.0) - 1.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn relus_kernel_has_the_arc_cosine_values() {
        // θ = 0, π/2, π: both sides equal, independent, opposite.
        let (a, b): (f64, f64) = (1.7, 0.6);
        let scale = (a * b).sqrt();
        let relu = |c: f64| spec("relu").function.gaussian_product(a, b, c).unwrap();
        assert!((relu(scale) - scale / 2.0).abs() < 1e-15);
        assert!((relu(0.0) - scale / (2.0 * std::f64::consts::PI)).abs() < 1e-15);
        assert!(relu(-scale).abs() < 1e-15);
        let abs = spec("abs").function.gaussian_product(a, a, a).unwrap();
        assert!((abs - a).abs() < 1e-14, "E[|z|²] = a");
        let step = |c: f64| {
            spec("abs")
                .function
                .gaussian_slope_product(a, b, c)
                .unwrap()
        };
        assert!((step(scale) - 1.0).abs() < 1e-15 && step(0.0).abs() < 1e-15);
    }

    /// The closed forms against the piecewise quadrature of the host
    /// functions, at correlations from −1 to 1 (and 1 − 1e-9, where the
    /// inner integral's kink runs off to the tail): two independent
    /// computations that agree to 1e-6. 64-node Gauss–Hermite, the rule
    /// the theory used for every activation before, misses by 1e-3.
    #[test]
    fn the_closed_forms_match_the_piecewise_quadrature() {
        let quadrature = Quadrature::new(NODES);
        let (a, b): (f64, f64) = (1.3, 0.7);
        let scale = (a * b).sqrt();
        let rhos = [
            -1.0,
            -0.999,
            -0.7,
            0.0,
            0.4,
            0.9,
            0.99,
            0.999,
            1.0 - 1e-9,
            1.0,
        ];
        for name in ["relu", "abs", "leaky_relu"] {
            let activation = spec(name);
            let function = &activation.function;
            for rho in rhos {
                let c = rho * scale;
                let exact = function.gaussian_product(a, b, c).unwrap();
                let piecewise = quadrature
                    .expect_pair_kinked([a, b, c], &function.kinks(), |z| function.value(z));
                // 1e-6 of the kernel's scale √(ab).
                assert!(
                    (exact - piecewise).abs() <= 1e-6 * scale,
                    "{name} ρ = {rho}: closed form {exact}, quadrature {piecewise}"
                );
                let exact = function.gaussian_slope_product(a, b, c).unwrap();
                let piecewise = quadrature
                    .expect_pair_kinked([a, b, c], &function.kinks(), |z| function.derivative(z));
                assert!(
                    (exact - piecewise).abs() <= 1e-6,
                    "{name}′ ρ = {rho}: closed form {exact}, quadrature {piecewise}"
                );
            }
        }
        let relu = spec("relu");
        let c = 0.9 * scale;
        let hermite = quadrature.expect_pair(a, b, c, |z| z.max(0.0));
        let exact = relu.function.gaussian_product(a, b, c).unwrap();
        assert!(
            (hermite - exact).abs() > 1e-4,
            "Gauss–Hermite: {hermite} vs {exact}"
        );
    }

    /// An activation without a closed form takes the piecewise rule, kinks
    /// and all: `shifted-relu:0` is relu, `clipped-relu:0:50` is relu up to
    /// mass beyond 50 standard deviations.
    #[test]
    fn kinked_activations_without_a_closed_form_get_relus_theory() {
        let relu = spec("relu");
        for name in ["shifted-relu:0", "clipped-relu:0:50"] {
            let other = spec(name);
            let (theory, reference) = (Theory::new(&other, 16), Theory::new(&relu, 16));
            for pair in [[1.0, 1.0, 0.3], [2.0, 0.5, -0.9], [0.8, 0.8, 0.8 - 1e-7]] {
                let (got, want) = (theory.cross(pair), reference.cross(pair));
                assert!(
                    (got - want).abs() <= 1e-9,
                    "{name} {pair:?}: {got} vs {want}"
                );
                let (got, want) = (theory.slope_cross(pair), reference.slope_cross(pair));
                assert!(
                    (got - want).abs() <= 1e-9,
                    "{name}′ {pair:?}: {got} vs {want}"
                );
            }
        }
    }

    /// Lu, Su & Karniadakis 2018's single-input collapse probability against a
    /// Monte Carlo under their assumptions: ReLU, weights and biases from
    /// symmetric continuous distributions (here N(0, 2/(fan_in + 1)), METHOD's
    /// init), one input point, dead when some hidden layer is all zeros there.
    /// Breaking the formula (2⁻⁽ⁿ⁻¹⁾ per layer, or one layer fewer) fails it.
    #[test]
    fn relu_death_probability_matches_monte_carlo() {
        use crate::seed::host_rng;
        use rand::RngExt;
        use rand_distr::StandardNormal;

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
}
