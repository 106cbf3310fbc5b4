//! Configuration: what a run is asked to do, and the one place it is checked.
//!
//! A study file ([`StudyConfig`], TOML) and the command-line flags of
//! `measure` and `train` both become the same nested [`RunConfig`] — model,
//! problem, measure and train sections — and [`RunConfig::check`] validates
//! it once into a [`Sweep`] that owns the real objects. Errors name the key
//! (`grid`, `train.steps`, …); the command line renames it to its flag.

use serde::{Deserialize, Serialize};

use super::records::default_layer;
use super::sweep::{Point, Sweep};
use crate::error::InputError;
use crate::measure::MeasureConfig;
use crate::nn::{BackendKind, Init, Registry};
use crate::problem::{Loss, ProblemConfig};
use crate::train::TrainConfig;

/// The architectures of a run (METHOD §1–§2): every (budget, block type,
/// activation, depth), sized to its budget, drawn with one init scheme.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub budgets: Vec<usize>,
    pub layers: Vec<String>,
    pub activations: Vec<String>,
    pub depths: Vec<usize>,
    pub init: Init,
}

/// Everything one run needs, nested by room.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    pub model: ModelConfig,
    pub problem: ProblemConfig,
    pub measure: MeasureConfig,
    pub train: TrainConfig,
    /// Networks measured per point.
    pub measure_seeds: usize,
    /// Networks trained per point (seeds `0..train_seeds`; 0: none).
    pub train_seeds: usize,
    /// The run seed every network seed and data set derives from.
    pub seed: u64,
    pub backend: BackendKind,
}

impl RunConfig {
    /// Checks every value and builds the sweep, naming the key of the
    /// first mistake.
    pub fn check(&self, registry: &Registry) -> Result<Sweep, InputError> {
        let model = &self.model;
        if model.activations.is_empty() {
            return Err(InputError::new(
                "activations",
                format!(
                    "give at least one (allowed: {})",
                    registry.activations.names().join(", ")
                ),
            ));
        }
        let activations = model
            .activations
            .iter()
            .map(|name| {
                registry
                    .activations
                    .get(name.trim())
                    .map_err(|e| InputError::new("activations", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if model.layers.is_empty() {
            return Err(InputError::new(
                "layer",
                format!(
                    "give at least one (allowed: {})",
                    registry.layers.names().join(", ")
                ),
            ));
        }
        let layers = model
            .layers
            .iter()
            .map(|name| {
                registry
                    .layers
                    .get(name.trim())
                    .map_err(|e| InputError::new("layer", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if model.depths.is_empty() || model.depths.contains(&0) {
            return Err(InputError::new(
                "depths",
                format!("give depths of 1 or more, got {:?}", model.depths),
            ));
        }
        if model.budgets.is_empty() {
            return Err(InputError::new(
                "budget",
                "give budget = N or budgets = [N, …]",
            ));
        }
        if let Some(&budget) = model.budgets.iter().find(|&&b| b > MAX_BUDGET) {
            return Err(InputError::new(
                "budget",
                format!("{budget} is more than any machine holds (at most {MAX_BUDGET})"),
            ));
        }
        self.check_numbers()?;
        let points = Point::grid(
            &model.budgets,
            &layers,
            &activations,
            &model.depths,
            model.init,
        )?;
        self.check_memory(&points)?;
        Ok(Sweep {
            points,
            measure: self.measure.clone(),
            problem: self.problem.clone(),
            train: (self.train_seeds > 0).then(|| self.train.clone()),
            measure_seeds: self.measure_seeds,
            train_seeds: self.train_seeds,
            seed: self.seed,
            backend: self.backend,
            shard: None,
        })
    }

    /// Refuses, before anything runs, a run whose largest network would not
    /// fit in this machine's available memory, naming the grid or the budget
    /// (whichever needs more), so that no input aborts the process.
    fn check_memory(&self, points: &[Point]) -> Result<(), InputError> {
        let Some(available) = available_memory() else {
            return Ok(());
        };
        let limit = available / 10 * 8;
        let trained = self.train_seeds > 0;
        for point in points {
            let (grid, network) = estimated_bytes(point, &self.measure, &self.problem, trained);
            if grid + network > limit {
                let (key, what) = if grid > network {
                    ("grid", "its landscapes")
                } else {
                    ("budget", "one network")
                };
                return Err(InputError::new(
                    key,
                    format!(
                        "{what} at depth {} would need about {} of memory, more than the {} this machine has available",
                        point.config.depth,
                        gigabytes(grid + network),
                        gigabytes(limit)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The ranges of the plain numbers.
    fn check_numbers(&self) -> Result<(), InputError> {
        InputError::at_least("grid", self.measure.grid, 4)?;
        InputError::positive("epsilon", self.measure.epsilon)?;
        InputError::at_least("measure_seeds", self.measure_seeds, 1)?;
        let (problem, train) = (&self.problem, &self.train);
        InputError::at_least("train.cells", problem.cells, 1)?;
        let target = problem
            .target()
            .map_err(|message| InputError::new("train.problem", message))?;
        if target.is_regression() && problem.loss != Loss::Mse {
            return Err(InputError::new(
                "train.loss",
                format!("{target} is a regression target: use loss mse (R² replaces accuracy)"),
            ));
        }
        InputError::at_least("train.train_size", problem.train_size, 1)?;
        InputError::at_least("train.test_size", problem.test_size, 1)?;
        if self.train_seeds > 0 {
            InputError::at_least("train.steps", train.steps, 1)?;
        }
        InputError::positive("train.learning_rate", train.learning_rate)?;
        InputError::at_least("train.log_every", train.log_every, 1)?;
        if let Some(batch) = train.batch_size {
            InputError::at_least("train.batch_size", batch, 1)?;
        }
        for (key, beta) in [
            ("train.adam_beta1", train.adam_beta1),
            ("train.adam_beta2", train.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return Err(InputError::new(
                    key,
                    format!("must be in [0, 1), got {beta}"),
                ));
            }
        }
        InputError::positive("train.adam_epsilon", train.adam_epsilon)
    }
}

/// Budgets above this are refused outright (4 TB of weights).
const MAX_BUDGET: usize = 1_000_000_000_000;

/// Bytes one network of a point needs at the least (an ensemble of one):
/// `(landscapes, network)`. The landscapes: the grid points, each landscape
/// in memory and as JSON text. The network: its parameters with their
/// gradients (and Adam's two moments when trained), and the activations a
/// backward pass over the training set keeps.
pub fn estimated_bytes(
    point: &Point,
    measure: &MeasureConfig,
    problem: &ProblemConfig,
    trained: bool,
) -> (u128, u128) {
    const FLOAT: u128 = 4;
    let grid_points = (measure.grid as u128).pow(2);
    let landscapes = grid_points * (2 * FLOAT + 2 * FLOAT + 8 + 2 * 16);
    let params = point.params() as u128;
    let copies = if trained { 5 } else { 3 };
    let activations = problem.train_size as u128
        * point.config.width as u128
        * (point.config.depth as u128 + 1)
        * 3
        * FLOAT;
    (landscapes, params * FLOAT * copies + activations)
}

/// Available memory in bytes (Linux's `MemAvailable`), if known.
fn available_memory() -> Option<u128> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kilobytes: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

fn gigabytes(bytes: u128) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// A study file. Every key but `name`, the budget, `activations` and `depths`
/// has the METHOD default; unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    pub name: String,
    /// One budget …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<usize>,
    /// … or several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<Vec<usize>>,
    pub activations: Vec<String>,
    pub depths: Vec<usize>,
    /// Block type: one name, or a list to sweep.
    #[serde(default)]
    pub layer: LayerChoice,
    #[serde(default)]
    pub init: Init,
    #[serde(default = "defaults::grid")]
    pub grid: usize,
    #[serde(default = "defaults::epsilon")]
    pub epsilon: f64,
    /// Compute the zero-cost proxies (default true).
    #[serde(default = "defaults::proxies")]
    pub proxies: bool,
    #[serde(default = "defaults::measure_seeds")]
    pub measure_seeds: usize,
    #[serde(default = "defaults::train_seeds")]
    pub train_seeds: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
    #[serde(default)]
    pub train: TrainSection,
}

/// The `[train]` table of a study file: the training settings and the
/// problem they train on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    pub steps: usize,
    pub learning_rate: f64,
    /// Points per step; absent is full batch.
    pub batch_size: Option<usize>,
    pub log_every: usize,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    pub loss: Loss,
    /// The target: `checkerboard`, `checkerboard:c`, `spirals:t`, `rings:k`.
    pub problem: String,
    /// Checkerboard cells per side (when `problem` names none).
    pub cells: usize,
    pub train_size: usize,
    pub test_size: usize,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self::from_configs(&TrainConfig::new(), &ProblemConfig::new())
    }
}

impl TrainSection {
    fn from_configs(train: &TrainConfig, problem: &ProblemConfig) -> Self {
        Self {
            steps: train.steps,
            learning_rate: train.learning_rate,
            batch_size: train.batch_size,
            log_every: train.log_every,
            adam_beta1: train.adam_beta1,
            adam_beta2: train.adam_beta2,
            adam_epsilon: train.adam_epsilon,
            loss: problem.loss,
            problem: problem.problem.clone(),
            cells: problem.cells,
            train_size: problem.train_size,
            test_size: problem.test_size,
        }
    }

    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            steps: self.steps,
            learning_rate: self.learning_rate,
            batch_size: self.batch_size,
            log_every: self.log_every,
            adam_beta1: self.adam_beta1,
            adam_beta2: self.adam_beta2,
            adam_epsilon: self.adam_epsilon,
        }
    }

    pub fn problem_config(&self) -> ProblemConfig {
        ProblemConfig {
            problem: self.problem.clone(),
            cells: self.cells,
            train_size: self.train_size,
            test_size: self.test_size,
            loss: self.loss,
        }
    }
}

/// `layer = "residual"` or `layer = ["dense", "residual"]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LayerChoice {
    One(String),
    Many(Vec<String>),
}

impl Default for LayerChoice {
    fn default() -> Self {
        LayerChoice::One(default_layer())
    }
}

impl LayerChoice {
    pub fn names(&self) -> Vec<String> {
        match self {
            LayerChoice::One(name) => vec![name.clone()],
            LayerChoice::Many(names) => names.clone(),
        }
    }
}

mod defaults {
    pub fn grid() -> usize {
        crate::measure::MeasureConfig::new().grid
    }
    pub fn epsilon() -> f64 {
        crate::measure::MeasureConfig::new().epsilon
    }
    pub fn proxies() -> bool {
        crate::measure::MeasureConfig::new().proxies
    }
    pub fn measure_seeds() -> usize {
        50
    }
    pub fn train_seeds() -> usize {
        5
    }
}

/// The shipped study files, as built into the binary.
pub const BUILT_IN: [(&str, &str); 3] = [
    (
        "experiments/paper.toml",
        include_str!("../../experiments/paper.toml"),
    ),
    (
        "experiments/layers.toml",
        include_str!("../../experiments/layers.toml"),
    ),
    (
        "experiments/quick.toml",
        include_str!("../../experiments/quick.toml"),
    ),
];

/// A validated study: the resolved file (saved as `study.toml`) and its sweep.
#[derive(Clone, Debug)]
pub struct StudyPlan {
    pub config: StudyConfig,
    pub sweep: Sweep,
}

impl StudyConfig {
    /// Reads and parses a study file; a syntax error or unknown key names
    /// the file, the line and the key. The shipped files
    /// (`experiments/*.toml`) are built into the binary, so they load from
    /// any directory; a file on disk of the same path comes first.
    pub fn load(path: &std::path::Path) -> Result<Self, InputError> {
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, &origin),
            Err(error) => match BUILT_IN
                .iter()
                .find(|(name, _)| std::path::Path::new(name) == path)
            {
                Some((_, text)) => Self::parse(text, &format!("{origin} (built in)")),
                None => Err(InputError::new(
                    "study file",
                    format!("cannot read '{origin}': {error}"),
                )),
            },
        }
    }

    /// Parses a study file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, InputError> {
        toml::from_str(text).map_err(|e| InputError::new(origin, e.to_string().trim().to_string()))
    }

    /// The config with every default written out, as saved in `study.toml`.
    pub fn resolved(&self, backend: BackendKind) -> Self {
        let mut resolved = self.clone();
        resolved.budgets = Some(self.budget_list());
        resolved.budget = None;
        resolved.backend = Some(backend);
        resolved
    }

    /// The label of an (activation, layer) series: the activation alone
    /// when the study has one block type.
    pub fn series(&self, activation: &str, layer: &str) -> String {
        if self.layer.names().len() == 1 {
            activation.to_string()
        } else {
            format!("{activation}/{layer}")
        }
    }

    /// Every series, layer by layer, in file order.
    pub fn series_names(&self) -> Vec<String> {
        let layers = self.layer.names();
        layers
            .iter()
            .flat_map(|l| self.activations.iter().map(move |a| self.series(a, l)))
            .collect()
    }

    pub fn budget_list(&self) -> Vec<usize> {
        self.budgets
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(self.budget)
            .collect()
    }

    /// The study as a [`RunConfig`], after the checks only a file needs.
    pub fn run_config(&self, backend_flag: Option<BackendKind>) -> Result<RunConfig, InputError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(InputError::new(
                "name",
                format!(
                    "'{}' must be letters, digits, '-', '_' or '.' (it names the results folder)",
                    self.name
                ),
            ));
        }
        if self.budget.is_some() && self.budgets.is_some() {
            return Err(InputError::new(
                "budget",
                "give either budget or budgets, not both",
            ));
        }
        Ok(RunConfig {
            model: ModelConfig {
                budgets: self.budget_list(),
                layers: self.layer.names(),
                activations: self.activations.clone(),
                depths: self.depths.clone(),
                init: self.init,
            },
            problem: self.train.problem_config(),
            measure: MeasureConfig {
                grid: self.grid,
                epsilon: self.epsilon,
                proxies: self.proxies,
            },
            train: self.train.train_config(),
            measure_seeds: self.measure_seeds,
            train_seeds: self.train_seeds,
            seed: self.seed,
            backend: backend_flag.or(self.backend).unwrap_or_default(),
        })
    }

    /// Checks every value and builds the plan, naming the key of any mistake.
    pub fn plan(
        &self,
        registry: &Registry,
        backend_flag: Option<BackendKind>,
    ) -> Result<StudyPlan, InputError> {
        let run = self.run_config(backend_flag)?;
        let sweep = run.check(registry)?;
        Ok(StudyPlan {
            config: self.resolved(run.backend),
            sweep,
        })
    }
}
