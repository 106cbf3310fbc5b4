//! Configuration: what a run is asked to do, and the one place it is checked.
//!
//! A study file ([`StudyConfig`], TOML) and the command-line flags of
//! `measure` and `train` both become the same nested [`RunConfig`] — model,
//! problem, measure and train sections — and [`RunConfig::check`] validates
//! it once into a [`Sweep`] that owns the real objects. Errors name the key
//! (`grid`, `train.steps`, …); the command line renames it to its flag.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use super::sweep::{Point, Sweep};
use crate::error::InputError;
use crate::measure::MeasureConfig;
use crate::nn::{BackendKind, Init, Registry, DEFAULT_LAYER};
use crate::problem::{
    Checkerboard, Loss, ProblemConfig, RunDataError, SquareTarget, Target, Teacher,
};
use crate::train::{AdamConfig, OptimizerKind, TrainConfig};

/// The parameter budget `P*` of a run that names none (METHOD §1).
pub const DEFAULT_BUDGET: usize = 2000;

/// The architectures of a run (METHOD §1–§2): every (budget, layer type,
/// activation, depth), sized to its budget, drawn with one init scheme.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Activation names (resolved through the registry).
    pub activations: Vec<String>,
    /// Numbers of hidden layers.
    pub depths: Vec<usize>,
    /// Parameter budgets `P*`.
    #[config(default = "vec![DEFAULT_BUDGET]")]
    pub budgets: Vec<usize>,
    /// Layer type names (resolved through the registry).
    #[config(default = "vec![DEFAULT_LAYER.to_string()]")]
    pub layers: Vec<String>,
    /// How the weights are drawn.
    #[config(default = "Init::default()")]
    pub init: Init,
}

/// Everything one run needs, nested by room. With the configs it nests
/// ([`ModelConfig`], [`ProblemConfig`], [`MeasureConfig`], [`TrainConfig`])
/// this is the one place every default is written: the flags' defaults and
/// a study file's come from [`RunConfig::defaults`].
#[derive(Config, Debug, PartialEq)]
pub struct RunConfig {
    /// The architectures.
    pub model: ModelConfig,
    /// The data: landscape problem, training and test sets, loss.
    #[config(default = "ProblemConfig::new()")]
    pub problem: ProblemConfig,
    /// How networks are measured at initialisation.
    #[config(default = "MeasureConfig::new()")]
    pub measure: MeasureConfig,
    /// How networks are trained.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Networks measured per point.
    #[config(default = 50)]
    pub measure_seeds: usize,
    /// Networks trained per point (seeds `0..train_seeds`; 0: none). They
    /// are measured too: a point has `max(measure_seeds, train_seeds)`.
    #[config(default = 5)]
    pub train_seeds: usize,
    /// The run seed every network seed and data set derives from.
    #[config(default = 0)]
    pub run_seed: u64,
    /// The compute backend.
    #[config(default = "BackendKind::default()")]
    pub backend: BackendKind,
}

impl RunConfig {
    /// Every default, with no activations or depths yet.
    pub fn defaults() -> Self {
        Self::new(ModelConfig::new(Vec::new(), Vec::new()))
    }

    /// Checks every value and builds the sweep, naming the key of the
    /// first mistake.
    pub fn check(&self, registry: &Registry) -> Result<Sweep, InputError> {
        let model = &self.model;
        let activations = resolve(
            "activations",
            &model.activations,
            &registry.activations.names(),
            |name| registry.activations.get(name),
        )?;
        let layers = resolve("layer", &model.layers, &registry.layers.names(), |name| {
            registry.layers.get(name)
        })?;
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
        // A value listed twice would run, record and summarise every one of
        // its networks twice.
        let canonical = |name: &String| registry.activations.canonical_name(name.trim());
        refuse_repeats("activations", model.activations.iter().map(canonical))?;
        refuse_repeats("layer", model.layers.iter().map(|l| l.trim().to_string()))?;
        refuse_repeats("depths", model.depths.iter().map(usize::to_string))?;
        refuse_repeats("budget", model.budgets.iter().map(usize::to_string))?;
        if let Some(&budget) = model.budgets.iter().find(|&&b| b > MAX_BUDGET) {
            return Err(InputError::new(
                "budget",
                format!("{budget} is more than any machine holds (at most {MAX_BUDGET})"),
            ));
        }
        self.check_numbers()?;
        let dims = [self.problem.inputs(), self.problem.outputs()];
        let points = Point::product(
            &model.budgets,
            &layers,
            &activations,
            &model.depths,
            model.init,
            dims,
        )?;
        self.check_memory(&points)?;
        let data = self
            .problem
            .data(self.run_seed, self.measure.grid, self.measure.planes)
            .map_err(|error| match error {
                RunDataError::Data(message) => InputError::new("train.problem", message),
                RunDataError::Planes(message) => InputError::new("planes", message),
            })?;
        let sweep = Sweep {
            points,
            measure: self.measure.clone(),
            problem: self.problem.clone(),
            train: (self.train_seeds > 0).then(|| self.train.clone()),
            measure_seeds: self.measure_seeds,
            train_seeds: self.train_seeds,
            run_seed: self.run_seed,
            backend: self.backend,
            shard: None,
            data: std::sync::Arc::new(data),
        };
        Ok(sweep)
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
            let bytes = estimated_bytes(point, &self.measure, &self.problem, trained);
            let total = bytes.landscapes + bytes.parameters + bytes.activations;
            if total > limit {
                // Named by the value to lower: the grid when the landscapes
                // are most of it; else the training set when the default
                // one would fit; else the budget.
                let defaults = RunConfig::defaults().problem;
                let default_sizes = self
                    .problem
                    .clone()
                    .with_train_size(defaults.train_size)
                    .with_test_size(defaults.test_size);
                let with_default_set =
                    estimated_bytes(point, &self.measure, &default_sizes, trained);
                let drawn = !matches!(self.problem.target(), Ok(Target::Shipped(_)));
                let planes_asked = !self.problem.draws_on_square()
                    && self.measure.planes > RunConfig::defaults().measure.planes;
                let (key, what) = if bytes.landscapes > bytes.parameters + bytes.activations {
                    (
                        if planes_asked { "planes" } else { "grid" },
                        "its landscapes",
                    )
                } else if drawn
                    && with_default_set.landscapes
                        + with_default_set.parameters
                        + with_default_set.activations
                        <= limit
                {
                    ("train.train_size", "one network over its training set")
                } else {
                    ("budget", "one network")
                };
                return Err(InputError::new(
                    key,
                    format!(
                        "{what} at depth {} would need about {} of memory, more than the {} this machine has available",
                        point.config.depth,
                        gigabytes(total),
                        gigabytes(limit)
                    ),
                ));
            }
        }
        // Every finished network's record is held in memory at the end (the
        // summaries, resuming, merging): seeds cost memory there. A trained
        // seed has a record per setting, with its loss curve and tracking.
        // As `Sweep::records_per_point`, in u128: the seeds asked for may be
        // absurd, and this is where they are refused.
        let networks = self.measure_seeds.max(self.train_seeds);
        let trained_records = self.train_seeds as u128 * self.train.settings().len() as u128;
        let measured_records = (networks - self.train_seeds) as u128;
        let log_points = (self.train.steps / self.train.log_every.max(1)) as u128 + 2;
        let training = log_points + 4 * self.train.track.len() as u128;
        let records: u128 = points
            .iter()
            .map(|point| {
                let depth = point.config.depth;
                trained_records * record_bytes(depth, Some(training))
                    + measured_records * record_bytes(depth, None)
            })
            .sum();
        if records > limit {
            let key = if self.train_seeds > self.measure_seeds {
                "train_seeds"
            } else {
                "measure_seeds"
            };
            return Err(InputError::new(
                key,
                format!(
                    "{networks} networks per point × {} points would hold about {} of records in memory, more than the {} this machine has available",
                    points.len(),
                    gigabytes(records),
                    gigabytes(limit)
                ),
            ));
        }
        Ok(())
    }

    /// The ranges of the plain numbers.
    fn check_numbers(&self) -> Result<(), InputError> {
        InputError::at_least("grid", self.measure.grid, 4)?;
        InputError::at_least("planes", self.measure.planes, 1)?;
        InputError::positive("epsilon", self.measure.c2c_threshold)?;
        InputError::at_least("measure_seeds", self.measure_seeds, 1)?;
        let (problem, train) = (&self.problem, &self.train);
        InputError::at_least("train.cells", problem.cells, 1)?;
        let target = problem
            .target()
            .map_err(|message| InputError::new("train.problem", message))?;
        // `checkerboard:c` names its cells; a different `cells` that is not
        // the default was given on purpose, and one of the two would be lost.
        if let Target::Square(SquareTarget::Checkerboard(board)) = &target {
            let named = problem.problem.contains(':');
            if named
                && problem.cells != board.cells
                && problem.cells != Checkerboard::default().cells
            {
                return Err(InputError::new(
                    "train.cells",
                    format!(
                        "{} conflicts with problem {}: give the cells once",
                        problem.cells, problem.problem
                    ),
                ));
            }
        }
        if target.is_regression() && problem.loss != Loss::Mse {
            return Err(InputError::new(
                "train.loss",
                format!("{target} is a regression target: use loss mse (R² replaces accuracy)"),
            ));
        }
        if target.classes() > 2 && problem.loss != Loss::Bce {
            return Err(InputError::new(
                "train.loss",
                format!(
                    "{target} has {} classes, one logit each: use loss bce (softmax cross-entropy over the logits); {} needs one logit",
                    target.classes(),
                    problem.loss
                ),
            ));
        }
        InputError::at_least("train.train_size", problem.train_size, 1)?;
        InputError::at_least("train.test_size", problem.test_size, 1)?;
        if self.train_seeds > 0 {
            InputError::at_least("train.steps", train.steps, 1)?;
        }
        if train.learning_rates.is_empty() {
            return Err(InputError::new(
                "train.learning_rate",
                "give a rate or a list of rates",
            ));
        }
        for &rate in &train.learning_rates {
            InputError::positive("train.learning_rate", rate)?;
        }
        refuse_repeats(
            "train.learning_rate",
            train.learning_rates.iter().map(|r| format!("{r:e}")),
        )?;
        if train.optimizers.is_empty() {
            return Err(InputError::new(
                "train.optimizer",
                "give an optimiser or a list (allowed: adam, sgd)",
            ));
        }
        refuse_repeats(
            "train.optimizer",
            train.optimizers.iter().map(|o| o.to_string()),
        )?;
        InputError::at_least("train.log_every", train.log_every, 1)?;
        if let Some(batch) = train.batch_size {
            InputError::at_least("train.batch_size", batch, 1)?;
        }
        for (key, beta) in [
            ("train.adam_beta1", train.optimizer.beta1),
            ("train.adam_beta2", train.optimizer.beta2),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return Err(InputError::new(
                    key,
                    format!("must be in [0, 1), got {beta}"),
                ));
            }
        }
        if let Some(pair) = train.track.windows(2).find(|pair| pair[0] >= pair[1]) {
            return Err(InputError::new(
                "train.track",
                format!(
                    "give the steps sorted and once each ({} before {})",
                    pair[0], pair[1]
                ),
            ));
        }
        if let Some(&last) = train.track.last().filter(|&&last| last > train.steps) {
            return Err(InputError::new(
                "train.track",
                format!(
                    "step {last} is beyond the {} steps of training",
                    train.steps
                ),
            ));
        }
        if !(0.0..1.0).contains(&train.momentum) {
            return Err(InputError::new(
                "train.momentum",
                format!("must be in [0, 1), got {}", train.momentum),
            ));
        }
        InputError::positive("train.adam_epsilon", train.optimizer.epsilon)
    }
}

/// Looks every name up (`get`), refusing an empty list; errors name `key`
/// and the `allowed` names.
fn resolve<T, E: std::fmt::Display>(
    key: &str,
    names: &[String],
    allowed: &[&str],
    get: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, InputError> {
    if names.is_empty() {
        let allowed = allowed.join(", ");
        return Err(InputError::new(
            key,
            format!("give at least one (allowed: {allowed})"),
        ));
    }
    names
        .iter()
        .map(|name| get(name.trim()).map_err(|e| InputError::new(key, e.to_string())))
        .collect()
}

/// Refuses a list in which one value comes twice, naming the value and
/// both places (counted from 1).
fn refuse_repeats(key: &str, values: impl Iterator<Item = String>) -> Result<(), InputError> {
    let mut seen: Vec<String> = Vec::new();
    for value in values {
        if let Some(first) = seen.iter().position(|v| *v == value) {
            let second = seen.len() + 1;
            return Err(InputError::new(
                key,
                format!(
                    "{value} is listed twice (places {} and {second}); list each value once",
                    first + 1
                ),
            ));
        }
        seen.push(value);
    }
    Ok(())
}

/// Budgets above this are refused outright (4 TB of weights).
const MAX_BUDGET: usize = 1_000_000_000_000;

/// Bytes one network of a point needs at the least (an ensemble of one),
/// by what they hold.
pub struct MemoryEstimate {
    /// The grid points, each landscape in memory and as JSON text.
    pub landscapes: u128,
    /// The parameters with their gradients (and Adam's two moments when
    /// trained).
    pub parameters: u128,
    /// The activations a backward pass over the training set keeps.
    pub activations: u128,
}

/// The [`MemoryEstimate`] of one network of `point`.
pub fn estimated_bytes(
    point: &Point,
    measure: &MeasureConfig,
    problem: &ProblemConfig,
    trained: bool,
) -> MemoryEstimate {
    const FLOAT: u128 = 4;
    let (inputs, outputs) = (problem.inputs() as u128, problem.outputs() as u128);
    let sections = if problem.draws_on_square() {
        1
    } else {
        measure.planes as u128
    };
    let grid_points = sections * (measure.grid as u128).pow(2);
    // Each point's inputs (host and device), each logit's values (host,
    // device, f64 moments, JSON text).
    let landscapes = grid_points * (2 * inputs * FLOAT + outputs * (2 * FLOAT + 8 + 2 * 16));
    let params = point.params() as u128;
    let copies = if trained { 5 } else { 3 };
    // The sets' points, held on the host and the device; and a teacher's
    // weights and reference points while it is drawn.
    let [train_size, test_size] = problem.set_sizes();
    let mut data = (train_size + test_size) as u128 * (inputs + 1) * 2 * FLOAT;
    if let Ok(Target::Teacher {
        inputs,
        width,
        depth,
    }) = problem.target()
    {
        data += Teacher::host_bytes(inputs, width, depth);
    }
    let activations = train_size as u128
        * (point.config.width as u128).max(outputs)
        * (point.config.depth as u128 + 1)
        * 3
        * FLOAT
        + data;
    MemoryEstimate {
        landscapes,
        parameters: params * FLOAT * copies,
        activations,
    }
}

/// Bytes one finished network's record takes in memory, with what
/// summarising and resuming keep beside it: its fixed fields, its
/// per-layer profiles, and when trained its loss curve and tracked steps
/// (`log_points` 16-byte entries).
fn record_bytes(depth: usize, log_points: Option<u128>) -> u128 {
    2048 + 128 * depth as u128 + log_points.map_or(0, |points| 512 + 16 * points)
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

/// The key of the line a TOML error points into (at byte `at` of
/// `text`), with its table's name in front (`train.steps`); `None` outside
/// a `key = value` line.
fn key_at(text: &str, at: usize) -> Option<String> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line.split('=').next().unwrap_or("").trim();
    let is_key = line.contains('=')
        && !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
    if !is_key {
        return None;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_string(),
    })
}

/// A study file. Every key but `name`, the budget, `activations` and
/// `depths` has the METHOD default ([`RunConfig::defaults`]); unknown keys
/// are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// The study's name; it names the results folder (letters, digits, `-`,
    /// `_`, `.`).
    pub name: String,
    /// One budget …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<usize>,
    /// … or several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<Vec<usize>>,
    /// Activation names to sweep.
    pub activations: Vec<String>,
    /// Depths `L` to sweep.
    pub depths: Vec<usize>,
    /// Layer type: one name, or a list to sweep.
    #[serde(default)]
    pub layer: LayerChoice,
    /// Initialisation scheme (METHOD §2).
    #[serde(default = "defaults::init")]
    pub init: Init,
    /// Landscape grid points per side `G` (METHOD §3).
    #[serde(default = "defaults::grid")]
    pub grid: usize,
    /// C2C threshold `ε` on `RV` (METHOD §3).
    #[serde(default = "defaults::epsilon")]
    pub epsilon: f64,
    /// Compute the zero-cost proxies (default true).
    #[serde(default = "defaults::proxies")]
    pub proxies: bool,
    /// Planes through the data a network is measured on when the problem
    /// has more than two inputs (METHOD §10).
    #[serde(default = "defaults::planes")]
    pub planes: usize,
    /// Networks measured per point.
    #[serde(default = "defaults::measure_seeds")]
    pub measure_seeds: usize,
    /// Networks trained per point (seeds `0..train_seeds`). Trained
    /// networks are measured too: more than `measure_seeds` makes each
    /// point `train_seeds` networks, all measured.
    #[serde(default = "defaults::train_seeds")]
    pub train_seeds: usize,
    /// The study seed every network seed and data set derives from.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Compute backend; `--backend` overrides it, absent is the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
    /// The `[train]` table: training settings and the problem.
    #[serde(default)]
    pub train: TrainSection,
}

/// The `[train]` table of a study file: the training settings and the
/// problem they train on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Optimiser steps per network.
    pub steps: usize,
    /// The learning rate, or a list of rates to sweep.
    #[serde(deserialize_with = "rates")]
    pub learning_rate: OneOrMany<f64>,
    /// Points per step; absent is full batch.
    pub batch_size: Option<usize>,
    /// The loss is recorded every `log_every` steps.
    pub log_every: usize,
    /// Adam's β₁.
    pub adam_beta1: f64,
    /// Adam's β₂.
    pub adam_beta2: f64,
    /// Adam's ε.
    pub adam_epsilon: f64,
    /// The optimiser, `adam` or `sgd` (with momentum), or a list to sweep.
    #[serde(deserialize_with = "optimizers")]
    pub optimizer: OneOrMany<OptimizerKind>,
    /// SGD's heavy-ball momentum, in [0, 1).
    pub momentum: f64,
    /// Steps at which the network under training is measured on the grid
    /// (METHOD §9): sorted, distinct, at most `steps`. Empty: none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track: Vec<usize>,
    /// The training loss.
    pub loss: Loss,
    /// The target: `checkerboard`, `checkerboard:c`, `spirals:t`, `rings:k`,
    /// `sines:k`, `digits`, `breast-cancer`, `teacher:d[:w:L]`.
    pub problem: String,
    /// Checkerboard cells per side (when `problem` names none).
    pub cells: usize,
    /// Training-set size.
    pub train_size: usize,
    /// Test-set size.
    pub test_size: usize,
}

impl Default for TrainSection {
    fn default() -> Self {
        let defaults = RunConfig::defaults();
        Self::from_configs(&defaults.train, &defaults.problem)
    }
}

impl TrainSection {
    fn from_configs(train: &TrainConfig, problem: &ProblemConfig) -> Self {
        Self {
            steps: train.steps,
            learning_rate: OneOrMany::of(&train.learning_rates),
            batch_size: train.batch_size,
            log_every: train.log_every,
            adam_beta1: train.optimizer.beta1,
            adam_beta2: train.optimizer.beta2,
            adam_epsilon: train.optimizer.epsilon,
            optimizer: OneOrMany::of(&train.optimizers),
            momentum: train.momentum,
            track: train.track.clone(),
            loss: problem.loss,
            problem: problem.problem.clone(),
            cells: problem.cells,
            train_size: problem.train_size,
            test_size: problem.test_size,
        }
    }

    /// The training settings of the table.
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            steps: self.steps,
            learning_rates: self.learning_rate.values(),
            batch_size: self.batch_size,
            log_every: self.log_every,
            optimizer: AdamConfig {
                beta1: self.adam_beta1,
                beta2: self.adam_beta2,
                epsilon: self.adam_epsilon,
            },
            optimizers: self.optimizer.values(),
            momentum: self.momentum,
            track: self.track.clone(),
        }
    }

    /// The problem settings of the table.
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

/// One value, or a list to sweep: `learning_rate = 1e-3` or
/// `learning_rate = [1e-4, 1e-3]`. One value is written back as one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One value.
    One(T),
    /// Several values, swept.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// One value when `values` holds one, else the list.
    fn of(values: &[T]) -> Self {
        match values {
            [one] => OneOrMany::One(one.clone()),
            many => OneOrMany::Many(many.to_vec()),
        }
    }

    /// The values, in file order.
    pub fn values(&self) -> Vec<T> {
        match self {
            OneOrMany::One(value) => vec![value.clone()],
            OneOrMany::Many(values) => values.clone(),
        }
    }
}

/// `learning_rate`: a number or a list, or what is allowed.
fn rates<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OneOrMany<f64>, D::Error> {
    OneOrMany::deserialize(d).map_err(|_| {
        serde::de::Error::custom("give a number or a list of numbers (e.g. [1e-4, 1e-3])")
    })
}

/// `optimizer`: a name or a list, or what is allowed.
fn optimizers<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<OneOrMany<OptimizerKind>, D::Error> {
    OneOrMany::deserialize(d).map_err(|_| {
        serde::de::Error::custom(
            "allowed: \"adam\", \"sgd\", or a list of them (e.g. [\"adam\", \"sgd\"])",
        )
    })
}

/// `layer = "residual"` or `layer = ["dense", "residual"]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LayerChoice {
    /// One layer type for every point.
    One(String),
    /// Several layer types, swept.
    Many(Vec<String>),
}

impl Default for LayerChoice {
    fn default() -> Self {
        LayerChoice::One(DEFAULT_LAYER.to_string())
    }
}

impl LayerChoice {
    /// The layer type names, in file order.
    pub fn names(&self) -> Vec<String> {
        match self {
            LayerChoice::One(name) => vec![name.clone()],
            LayerChoice::Many(names) => names.clone(),
        }
    }
}

/// The defaults of a study file's top-level keys: [`RunConfig::defaults`].
mod defaults {
    use super::RunConfig;

    /// The default `grid`.
    pub fn grid() -> usize {
        RunConfig::defaults().measure.grid
    }
    /// The default `epsilon`.
    pub fn epsilon() -> f64 {
        RunConfig::defaults().measure.c2c_threshold
    }
    /// The default `proxies`.
    pub fn proxies() -> bool {
        RunConfig::defaults().measure.proxies
    }
    /// The default `planes`.
    pub fn planes() -> usize {
        RunConfig::defaults().measure.planes
    }
    /// The default `measure_seeds`.
    pub fn measure_seeds() -> usize {
        RunConfig::defaults().measure_seeds
    }
    /// The default `train_seeds`.
    pub fn train_seeds() -> usize {
        RunConfig::defaults().train_seeds
    }
    /// The default `seed`.
    pub fn seed() -> u64 {
        RunConfig::defaults().run_seed
    }
    /// The default `init`.
    pub fn init() -> crate::nn::Init {
        RunConfig::defaults().model.init
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
    /// The resolved study file, every default written out.
    pub config: StudyConfig,
    /// The checked sweep it runs.
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

    /// Parses a study file's text; `origin` names it in errors. A mistake
    /// in one key's value is named by that key (`train.steps`), then the
    /// reason, then the file and line.
    pub fn parse(text: &str, origin: &str) -> Result<Self, InputError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            // The reason first, then where: toml's own text puts the reason
            // after a quoted excerpt of the file.
            let before = e.span().and_then(|span| text.get(..span.start));
            let line = before.map(|before| before.matches('\n').count() + 1);
            let place = line.map_or(format!(" ({origin})"), |l| format!(" ({origin}, line {l})"));
            let reason = e.message().trim();
            let key = before.and_then(|before| key_at(text, before.len()));
            InputError::new(
                key.as_deref().unwrap_or(origin),
                format!("{reason}{place}\n{}", e.to_string().trim()),
            )
        })
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
    /// when the study has one layer type.
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

    /// The budgets, from `budgets` and `budget`.
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
        // The name is a folder under results/: a plain name, not `.` or
        // `..`, which would put the results in results/ or the working
        // directory.
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if self.name.is_empty()
            || !self.name.chars().all(allowed)
            || self.name.chars().all(|c| c == '.')
        {
            return Err(InputError::new(
                "name",
                format!(
                    "'{}' must be letters, digits, '-', '_' or '.', and not only dots (it names the results folder)",
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
                c2c_threshold: self.epsilon,
                proxies: self.proxies,
                planes: self.planes,
            },
            train: self.train.train_config(),
            measure_seeds: self.measure_seeds,
            train_seeds: self.train_seeds,
            run_seed: self.seed,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiny study of `tests/study_cli.rs`.
    const TINY: &str = include_str!("../../tests/fixtures/tiny-study.toml");

    /// The key an error names, or `None` when the file is accepted.
    fn refusal(text: &str) -> Option<InputError> {
        StudyConfig::parse(text, "tiny.toml")
            .and_then(|c| c.plan(&Registry::builtin(), None))
            .err()
    }

    #[test]
    fn study_file_mistakes_are_refused_naming_the_key() {
        assert!(refusal(TINY).is_none(), "{:?}", refusal(TINY));
        let cases: &[(&str, &str, &str)] = &[
            ("measure_seeds = 6", "measure_sedes = 6", "measure_sedes"),
            ("steps = 40", "stepz = 40", "stepz"),
            (
                "activations = [\"relu\", \"abs\"]",
                "activations = [\"relu\", \"swish\"]",
                "allowed: relu, abs",
            ),
            ("depths = [1, 3]", "depths = [0, 3]", "depths"),
            ("depths = [1, 3]", "depths = []", "depths"),
            (
                "depths = [1, 3]",
                "depths = [1, 3]\nlayer = \"conv\"",
                "allowed: dense, residual, layernorm-dense",
            ),
            ("depths = [1, 3]", "depths = [1, 3]\nlayer = []", "layer"),
            ("grid = 12", "grid = 3", "grid"),
            ("budget = 200", "budget = 5", "budget"),
            ("budget = 200", "budget = 200\nbudgets = [300]", "budget"),
            ("budget = 200", "", "budget"),
            ("grid = 12", "grid = 12\ninit = \"orthogonal\"", "scaled"),
            (
                "steps = 40",
                "steps = 40\nlearning_rate = -1.0",
                "train.learning_rate",
            ),
            (
                "steps = 40",
                "steps = 40\nadam_beta2 = 1.0",
                "train.adam_beta2",
            ),
            (
                "steps = 40",
                "steps = 40\nadam_epsilon = 0.0",
                "train.adam_epsilon",
            ),
            ("steps = 40", "steps = 0", "train.steps"),
            ("measure_seeds = 6", "measure_seeds = 0", "measure_seeds"),
            ("name = \"tiny\"", "name = \"../escape\"", "name"),
            ("name = \"tiny\"", "name = \".\"", "not only dots"),
            (
                "steps = 40",
                "steps = 40\nproblem = \"checkerboard:4\"\ncells = 6",
                "train.cells: 6 conflicts with problem checkerboard:4",
            ),
            ("name = \"tiny\"", "name = \"..\"", "not only dots"),
            ("grid = 12", "grid = \"twelve\"", "grid"),
            (
                "steps = 40",
                "steps = 40\nproblem = \"moons\"",
                "train.problem",
            ),
            (
                "steps = 40",
                "steps = 40\nproblem = \"sines:2\"",
                "train.loss",
            ),
            (
                "steps = 40",
                "steps = 40\nlearning_rate = [1e-3, 0.001]",
                "train.learning_rate: 1e-3 is listed twice",
            ),
            (
                "steps = 40",
                "steps = 40\nlearning_rate = [1e-3, -1.0]",
                "train.learning_rate: must be a positive number",
            ),
            (
                "steps = 40",
                "steps = 40\nlearning_rate = []",
                "train.learning_rate: give a rate",
            ),
            (
                "steps = 40",
                "steps = 40\noptimizer = \"rmsprop\"",
                "train.optimizer",
            ),
            (
                "steps = 40",
                "steps = 40\noptimizer = [\"sgd\", \"sgd\"]",
                "train.optimizer: sgd is listed twice",
            ),
            ("steps = 40", "steps = 40\nmomentum = 1.0", "train.momentum"),
            // A value listed twice would run every network of it twice.
            (
                "depths = [1, 3]",
                "depths = [1, 3, 1]",
                "depths: 1 is listed twice",
            ),
            (
                "activations = [\"relu\", \"abs\"]",
                "activations = [\"relu\", \"abs\", \"relu\"]",
                "activations: relu is listed twice",
            ),
            (
                "activations = [\"relu\", \"abs\"]",
                "activations = [\"shifted-relu:0\", \"shifted-relu:-0.0\"]",
                "shifted-relu:0 is listed twice",
            ),
            (
                "depths = [1, 3]",
                "depths = [1, 3]\nlayer = [\"dense\", \"dense\"]",
                "layer: dense is listed twice",
            ),
            (
                "budget = 200",
                "budgets = [200, 300, 200]",
                "budget: 200 is listed twice",
            ),
        ];
        for (from, to, named) in cases {
            assert!(TINY.contains(from), "{from}");
            let error =
                refusal(&TINY.replace(from, to)).unwrap_or_else(|| panic!("{to}: accepted"));
            let text = error.to_string();
            assert!(text.contains(named), "{to}: {text}");
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_its_key() {
        for (from, to, key) in [
            ("grid = 12", "grid = -3", "grid"),
            ("steps = 40", "steps = 1.5", "train.steps"),
            ("measure_seeds = 6", "bogus_key = 1", "bogus_key"),
        ] {
            let error = refusal(&TINY.replace(from, to)).expect("refused");
            assert_eq!(error.field, key, "{to}: {error}");
            assert!(error.message.contains("tiny.toml, line"), "{error}");
        }
        let commented = TINY
            .replace("[train]", "[train]  # the training")
            .replace("steps = 40", "steps = 1.5");
        assert_eq!(refusal(&commented).expect("refused").field, "train.steps");
        // A mistake outside any key's line is named by the file.
        let error = refusal("name = \"t\"\nthis is not toml\n").expect("refused");
        assert_eq!(error.field, "tiny.toml", "{error}");
    }

    #[test]
    fn a_study_file_round_trips_through_the_config() {
        let study = StudyConfig::parse(TINY, "tiny.toml").unwrap();
        let resolved = study.resolved(BackendKind::default());
        let text = toml::to_string(&resolved).unwrap();
        let again = StudyConfig::parse(&text, "study.toml").unwrap();
        assert_eq!(again, resolved);
        assert_eq!(again.resolved(BackendKind::default()), resolved);
        // The file's values reach the run config, and its defaults are
        // the run config's defaults.
        let run = again.run_config(None).unwrap();
        let defaults = RunConfig::defaults();
        assert_eq!(run.model.budgets, vec![200]);
        assert_eq!(run.measure.grid, 12);
        assert_eq!((run.measure_seeds, run.train_seeds), (6, 2));
        assert_eq!(run.train.steps, 40);
        assert_eq!(run.train.learning_rates, defaults.train.learning_rates);
        assert_eq!(run.train.optimizer, defaults.train.optimizer);
        assert_eq!(run.problem.loss, defaults.problem.loss);
        assert_eq!(run.model.init, defaults.model.init);
        assert_eq!(run.measure.c2c_threshold, defaults.measure.c2c_threshold);
    }

    #[test]
    fn a_study_toml_saved_by_version_0_1_0_still_loads() {
        // Written by `variability study experiments/quick.toml` at b20a001.
        let saved = include_str!("../../tests/fixtures/study-0.1.0.toml");
        let study = StudyConfig::parse(saved, "study.toml").unwrap();
        assert_eq!(study.resolved(study.backend.unwrap()), study);
        let plan = study.plan(&Registry::builtin(), None).unwrap();
        assert_eq!(plan.config, study);
        assert_eq!(plan.sweep.train.unwrap().optimizer, AdamConfig::new());
    }

    #[test]
    fn a_toml_mistake_says_its_reason_and_line_first() {
        let text = TINY.replace("steps = 40", "steps = 40\nbogus_key = 1");
        let error = StudyConfig::parse(&text, "tiny.toml").unwrap_err();
        let first = error.message.lines().next().unwrap();
        assert!(first.starts_with("unknown field `bogus_key`"), "{first}");
        let line = text
            .lines()
            .position(|l| l.starts_with("bogus_key"))
            .unwrap()
            + 1;
        assert!(
            first.ends_with(&format!("(tiny.toml, line {line})")),
            "{first}"
        );
        assert_eq!(error.field, "train.bogus_key");
    }
}
