//! The command line: arguments are parsed into plain structs, validated once
//! into plans that own the real objects, then run. Nothing downstream
//! re-checks user input.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::activation::{ActivationRegistry, ActivationSpec};
use crate::backend::{run_on, BackendJob, BackendKind, ComputeBackend};
use crate::measurement::{MeasureSettings, Measurer, NetworkMeasures};
use crate::model::{network_seed, Init, MlpConfig};
use crate::problem::{Checkerboard, Loss};
use crate::records::{JsonLines, MeasureRecord};
use crate::stats::Summary;
use crate::VERSION;

#[derive(Parser, Debug)]
#[command(name = "variability", version, about = "Variability of fully connected networks at a fixed parameter budget")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Measure randomly initialised networks: activation ratio, V3, collapse
    /// profile, C2C, gradient profile.
    Measure(MeasureArgs),
}

/// A mistake in the user's input: names the flag (or key) and what is allowed.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct UsageError {
    pub field: String,
    pub message: String,
}

impl UsageError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_string(), message: message.into() }
    }
}

/// Errors of a command: bad input (exit status 2) or a failure while running.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Io { .. } => 1,
        }
    }
}

/// Runs a parsed command line with the given activations.
pub fn run(cli: Cli, registry: &ActivationRegistry) -> Result<(), CliError> {
    match cli.command {
        Command::Measure(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.backend, plan)
        }
    }
}

// ---------------------------------------------------------------------------
// Shared flags

/// The architecture sweep and measurement flags, shared by every command that
/// builds networks.
#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Activations, comma separated.
    #[arg(long, default_value = "relu,abs", value_delimiter = ',')]
    pub activation: Vec<String>,
    /// Numbers of hidden layers, comma separated.
    #[arg(long, default_value = "1,2,4,8", value_delimiter = ',')]
    pub depth: Vec<usize>,
    /// Parameter budget P*; each depth gets the width closest to it.
    #[arg(long, default_value_t = 2000)]
    pub budget: usize,
    /// Networks (seeds) per (activation, depth).
    #[arg(long, default_value_t = 50)]
    pub seeds: usize,
    /// Landscape grid size G (G×G points on [-1,1]²).
    #[arg(long, default_value_t = 101)]
    pub grid: usize,
    /// Initialisation: scaled, he, torch-default, xavier.
    #[arg(long, default_value = "scaled")]
    pub init: String,
    /// C2C threshold on RV_out.
    #[arg(long, default_value_t = 1e-3)]
    pub epsilon: f64,
    /// Run seed every network and data set derives from.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute backend: ndarray (CPU) or wgpu (GPU).
    #[arg(long, default_value = "ndarray")]
    pub backend: String,
    /// Checkerboard cells per side (the gradient profile's training set).
    #[arg(long, default_value_t = 8)]
    pub cells: usize,
    /// Training-set size.
    #[arg(long, default_value_t = 2000)]
    pub train_size: usize,
    /// Training loss: bce or mse.
    #[arg(long, default_value = "bce")]
    pub loss: String,
}

/// One (activation, depth) point of a sweep, sized to the budget.
#[derive(Clone, Debug)]
pub struct Point {
    pub activation: ActivationSpec,
    pub config: MlpConfig,
}

/// A validated sweep.
#[derive(Clone, Debug)]
pub struct SweepPlan {
    pub points: Vec<Point>,
    pub budget: usize,
    pub seeds: usize,
    pub settings: MeasureSettings,
    pub backend: BackendKind,
}

impl SweepArgs {
    pub fn plan(&self, registry: &ActivationRegistry) -> Result<SweepPlan, UsageError> {
        let activations = self
            .activation
            .iter()
            .map(|name| registry.get(name.trim()).map_err(|e| UsageError::new("--activation", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if activations.is_empty() {
            return Err(UsageError::new("--activation", "give at least one activation"));
        }
        if self.depth.is_empty() {
            return Err(UsageError::new("--depth", "give at least one depth (1 or more)"));
        }
        let init: Init = self.init.parse().map_err(|e: String| UsageError::new("--init", e))?;
        let loss: Loss = self.loss.parse().map_err(|e: String| UsageError::new("--loss", e))?;
        let backend: BackendKind = self.backend.parse().map_err(|e: String| UsageError::new("--backend", e))?;
        check_at_least("--seeds", self.seeds, 1)?;
        check_at_least("--grid", self.grid, 4)?;
        check_at_least("--cells", self.cells, 1)?;
        check_at_least("--train-size", self.train_size, 1)?;
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(UsageError::new("--epsilon", format!("must be a positive number, got {}", self.epsilon)));
        }
        let mut points = Vec::new();
        for activation in &activations {
            for &depth in &self.depth {
                if depth == 0 {
                    return Err(UsageError::new("--depth", "depths must be 1 or more, got 0"));
                }
                let config = MlpConfig::for_budget(self.budget, depth, activation.name()).ok_or_else(|| {
                    let minimum = crate::model::dense_param_count(depth, 1, 2, 1);
                    UsageError::new(
                        "--budget",
                        format!("{} is too small for depth {depth}: width would be < 1 (needs at least {minimum})", self.budget),
                    )
                })?;
                points.push(Point { activation: activation.clone(), config: config.with_init(init) });
            }
        }
        Ok(SweepPlan {
            points,
            budget: self.budget,
            seeds: self.seeds,
            settings: MeasureSettings {
                grid: self.grid,
                epsilon: self.epsilon,
                init,
                seed: self.seed,
                problem: Checkerboard { cells: self.cells },
                train_size: self.train_size,
                loss,
            },
            backend,
        })
    }
}

fn check_at_least(flag: &str, value: usize, minimum: usize) -> Result<(), UsageError> {
    if value < minimum {
        return Err(UsageError::new(flag, format!("must be at least {minimum}, got {value}")));
    }
    Ok(())
}

/// Opens a results file for appending, or says why it cannot be written.
fn open_output(path: &PathBuf, flag: &str) -> Result<JsonLines, UsageError> {
    JsonLines::append(path).map_err(|e| UsageError::new(flag, format!("cannot write '{}': {e}", path.display())))
}

// ---------------------------------------------------------------------------
// measure

#[derive(Args, Debug)]
pub struct MeasureArgs {
    #[command(flatten)]
    pub sweep: SweepArgs,
    /// Append one JSON record per network to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A validated `measure` command.
pub struct MeasurePlan {
    pub sweep: SweepPlan,
    pub out: Option<JsonLines>,
    pub backend: BackendKind,
}

impl MeasureArgs {
    pub fn plan(&self, registry: &ActivationRegistry) -> Result<MeasurePlan, UsageError> {
        let sweep = self.sweep.plan(registry)?;
        let out = self.out.as_ref().map(|path| open_output(path, "--out")).transpose()?;
        Ok(MeasurePlan { backend: sweep.backend, sweep, out })
    }
}

impl BackendJob for MeasurePlan {
    type Output = Result<(), CliError>;

    fn run<B: ComputeBackend>(mut self, device: &B::Device) -> Self::Output {
        let sweep = &self.sweep;
        let measurer = Measurer::<B>::new(sweep.settings.clone(), device);
        println!("{}", MeasureRow::header());
        for point in &sweep.points {
            let config = &point.config;
            let name = point.activation.name();
            let seeds: Vec<u64> =
                (0..sweep.seeds).map(|i| network_seed(sweep.settings.seed, name, config.depth, i)).collect();
            let mut measured = Vec::with_capacity(sweep.seeds);
            let chunk_members = measurer.chunk_members(config);
            for (chunk_index, chunk) in seeds.chunks(chunk_members).enumerate() {
                let first_index = chunk_index * chunk_members;
                let measures = measurer.measure(config, &point.activation, chunk);
                if let Some(out) = self.out.as_mut() {
                    for (offset, (m, &network_seed)) in measures.iter().zip(chunk).enumerate() {
                        let record = MeasureRecord {
                            activation: name.to_string(),
                            depth: config.depth,
                            width: config.width,
                            budget: sweep.budget,
                            seed: first_index + offset,
                            run_seed: sweep.settings.seed,
                            network_seed,
                            init: sweep.settings.init.to_string(),
                            grid: sweep.settings.grid,
                            epsilon: sweep.settings.epsilon,
                            backend: self.backend.to_string(),
                            measures: m.clone(),
                            version: VERSION.to_string(),
                        };
                        out.write(&record).map_err(|source| CliError::Io {
                            context: format!("writing {}", out.path().display()),
                            source,
                        })?;
                    }
                }
                measured.extend(measures);
            }
            println!("{}", MeasureRow::of(point, &measured));
        }
        Ok(())
    }
}

/// One printed line of the `measure` table.
pub struct MeasureRow {
    activation: String,
    depth: usize,
    width: usize,
    params: usize,
    activation_ratio: Summary,
    activation_count: Summary,
    v3: Summary,
    c2c_frequency: f64,
    median_rv_out: f64,
}

impl MeasureRow {
    pub fn header() -> String {
        format!(
            "{:<10} {:>5} {:>5} {:>6}  {:>15}  {:>15}  {:>17}  {:>5}  {:>10}",
            "activation", "depth", "width", "params", "act. ratio", "act. count", "V3", "C2C", "med RV_out"
        )
    }

    pub fn of(point: &Point, measured: &[NetworkMeasures]) -> Self {
        let config = &point.config;
        Self {
            activation: point.activation.name().to_string(),
            depth: config.depth,
            width: config.width,
            params: measured.first().map_or(0, |m| m.params),
            activation_ratio: Summary::of(measured.iter().map(|m| m.activation_ratio)),
            activation_count: Summary::of(measured.iter().map(|m| m.activation_count)),
            v3: Summary::of(measured.iter().map(|m| m.v3)),
            c2c_frequency: measured.iter().filter(|m| m.c2c).count() as f64 / measured.len() as f64,
            median_rv_out: Summary::of(measured.iter().map(|m| m.rv_out)).median,
        }
    }
}

impl std::fmt::Display for MeasureRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pm = |s: &Summary, digits: usize| format!("{:.*} ± {:.*}", digits, s.mean, digits, s.std);
        write!(
            f,
            "{:<10} {:>5} {:>5} {:>6}  {:>15}  {:>15}  {:>17}  {:>5.2}  {:>10.3e}",
            self.activation,
            self.depth,
            self.width,
            self.params,
            pm(&self.activation_ratio, 3),
            pm(&self.activation_count, 1),
            pm(&self.v3, 4),
            self.c2c_frequency,
            self.median_rv_out
        )
    }
}
