//! The command line: arguments are parsed into plain structs, validated once
//! into plans that own the real objects, then run. Nothing downstream
//! re-checks user input.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::activation::ActivationSpec;
use crate::bench::{bench_shapes, matmul_gflops, BenchReport, BenchSettings, StudyBench};
use crate::layer::LayerSpec;
use crate::backend::{run_on, BackendJob, BackendKind, BackendUnavailable, ComputeBackend};
use crate::measurement::MeasureSettings;
use crate::model::Init;
use crate::problem::{Checkerboard, Loss};
use crate::plot::Format;
use crate::progress::{Progress, ProgressMode};
use crate::report::{write_report, ReportError, StudyResults};
use crate::records::{JsonLines, RunRecord};
use crate::registry::Registry;
use crate::stats::Summary;
use crate::study::{run_study, ResultsDir, StudyConfig, StudyError, StudyPlan, StudySummary};
use crate::sweep::{Point, Sweep, Task};
use crate::training::TrainSettings;

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
    /// Measure, then train on the checkerboard, every network of a sweep.
    Train(TrainArgs),
    /// Run (or resume) a study described in a TOML file.
    Study(StudyArgs),
    /// Draw every figure of a study from its results directory, and summary.md.
    Report(ReportArgs),
    /// The paper's figures: `study experiments/paper.toml`, then `report` into plots/.
    Paper(PaperArgs),
    /// Speed on this machine: networks measured and training steps per
    /// second on fixed shapes, GFLOP/s against an estimated peak, and the
    /// wall time of a small study. Prints a table and writes JSON.
    Bench(BenchArgs),
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

impl From<BackendUnavailable> for CliError {
    fn from(error: BackendUnavailable) -> Self {
        CliError::Usage(UsageError::new(&format!("--backend {}", error.backend), error.reason))
    }
}

impl From<ReportError> for CliError {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::Study(study) => study.into(),
            ReportError::Plot(plot) => CliError::Io {
                context: plot.path,
                source: std::io::Error::other(plot.message),
            },
            ReportError::Missing(message) => CliError::Usage(UsageError::new("results", message)),
        }
    }
}

impl From<StudyError> for CliError {
    fn from(error: StudyError) -> Self {
        match error {
            StudyError::Usage(usage) => CliError::Usage(usage),
            StudyError::Io { context, source } => CliError::Io { context, source },
        }
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Io { .. } => 1,
        }
    }
}

/// Runs a parsed command line with the given activations and block types.
pub fn run(cli: Cli, registry: &Registry) -> Result<(), CliError> {
    match cli.command {
        Command::Measure(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.sweep.backend, plan)?
        }
        Command::Train(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.sweep.backend, plan)?
        }
        Command::Study(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.study.sweep.backend, plan)?
        }
        Command::Report(args) => {
            let (results, out, format, scale) = args.plan(registry)?;
            let written = write_report(&results, &out, format, scale)?;
            println!("{} files in {}", written.len(), out.display());
            Ok(())
        }
        Command::Bench(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.backend, plan)?
        }
        Command::Paper(args) => {
            let study = args.study(registry)?;
            let results_dir = study.dir.clone();
            run_on(study.study.sweep.backend, study)??;
            let results = StudyResults::load(&results_dir, registry)?;
            let written = write_report(&results, &args.plots, Format::Png, args.scale)?;
            println!("{} files in {}", written.len(), args.plots.display());
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Shared flags

/// The flags of every command that builds networks.
#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Activations, comma separated.
    #[arg(long, default_value = "relu,abs", value_delimiter = ',')]
    pub activation: Vec<String>,
    /// Numbers of hidden layers (blocks), comma separated.
    #[arg(long, default_value = "1,2,4,8", value_delimiter = ',')]
    pub depth: Vec<usize>,
    /// Hidden block types, comma separated: dense, residual, layernorm-dense.
    #[arg(long, default_value = "dense", value_delimiter = ',')]
    pub layer: Vec<String>,
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
    /// Checkerboard cells per side.
    #[arg(long, default_value_t = 8)]
    pub cells: usize,
    /// Training-set size (also the gradient profile's data).
    #[arg(long, default_value_t = 2000)]
    pub train_size: usize,
    /// Training loss: bce or mse.
    #[arg(long, default_value = "bce")]
    pub loss: String,
    #[command(flatten)]
    pub execution: ExecutionArgs,
    /// Append one JSON record per network to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// How a run uses the machine and talks to the user.
#[derive(Args, Debug, Clone)]
pub struct ExecutionArgs {
    /// Worker threads, each running its own networks (default: one per core
    /// on ndarray, one on wgpu).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

impl ExecutionArgs {
    fn threads(&self, backend: BackendKind) -> Result<usize, UsageError> {
        match (self.threads, backend) {
            (Some(0), _) => Err(UsageError::new("--threads", "must be at least 1, got 0")),
            (Some(threads), _) => Ok(threads),
            (None, BackendKind::Ndarray) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
            (None, BackendKind::Wgpu) => Ok(1),
        }
    }

    fn progress(&self) -> ProgressMode {
        if self.quiet { ProgressMode::Quiet } else { ProgressMode::Auto }
    }
}

/// A validated sweep with its output.
pub struct SweepPlan {
    pub sweep: Sweep,
    pub seeds: usize,
    pub threads: usize,
    pub progress: ProgressMode,
    pub out: Option<JsonLines>,
}

impl SweepArgs {
    pub fn plan(&self, registry: &Registry, train: Option<TrainSettings>) -> Result<SweepPlan, UsageError> {
        let activations = self
            .activation
            .iter()
            .map(|name| registry.activations.get(name.trim()).map_err(|e| UsageError::new("--activation", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let layers = self
            .layer
            .iter()
            .map(|name| registry.layers.get(name.trim()).map_err(|e| UsageError::new("--layer", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let init: Init = self.init.parse().map_err(|e: String| UsageError::new("--init", e))?;
        let loss: Loss = self.loss.parse().map_err(|e: String| UsageError::new("--loss", e))?;
        let backend: BackendKind = self.backend.parse().map_err(|e: String| UsageError::new("--backend", e))?;
        check_at_least("--seeds", self.seeds, 1)?;
        check_at_least("--grid", self.grid, 4)?;
        check_at_least("--cells", self.cells, 1)?;
        check_at_least("--train-size", self.train_size, 1)?;
        check_positive("--epsilon", self.epsilon)?;
        if self.depth.contains(&0) {
            return Err(UsageError::new("--depth", "depths must be 1 or more, got 0"));
        }
        let points =
            Point::grid(&[self.budget], &layers, &activations, &self.depth, init).map_err(|e| UsageError::new("--budget", e))?;
        let measure = MeasureSettings {
            grid: self.grid,
            epsilon: self.epsilon,
            init,
            seed: self.seed,
            problem: Checkerboard { cells: self.cells },
            train_size: self.train_size,
            loss,
        };
        let train = train.map(|t| TrainSettings { cells: self.cells, train_size: self.train_size, loss, ..t });
        let out = self
            .out
            .as_ref()
            .map(|path| {
                JsonLines::append(path)
                    .map_err(|e| UsageError::new("--out", format!("cannot write '{}': {e}", path.display())))
            })
            .transpose()?;
        Ok(SweepPlan {
            sweep: Sweep { points, measure, train, backend },
            seeds: self.seeds,
            threads: self.execution.threads(backend)?,
            progress: self.execution.progress(),
            out,
        })
    }
}

/// Checks a count against its minimum, naming the flag or key.
pub(crate) fn check_at_least(flag: &str, value: usize, minimum: usize) -> Result<(), UsageError> {
    if value < minimum {
        return Err(UsageError::new(flag, format!("must be at least {minimum}, got {value}")));
    }
    Ok(())
}

/// Checks that a number is finite and positive, naming the flag or key.
pub(crate) fn check_positive(flag: &str, value: f64) -> Result<(), UsageError> {
    if !(value.is_finite() && value > 0.0) {
        return Err(UsageError::new(flag, format!("must be a positive number, got {value}")));
    }
    Ok(())
}

impl BackendJob for SweepPlan {
    type Output = Result<(), CliError>;

    /// Runs every network, appending records as chunks finish, and prints
    /// one table row per point once all its networks are in.
    fn run<B: ComputeBackend>(mut self, device: &B::Device) -> Self::Output {
        let sweep = &self.sweep;
        let train = sweep.train.is_some();
        let seeds: Vec<usize> = (0..self.seeds).collect();
        let tasks: Vec<Task> = (0..sweep.points.len())
            .flat_map(|p| Sweep::tasks_for(p, &seeds, train, sweep.chunk_members::<B>(&sweep.points[p])))
            .collect();
        let mut per_point: Vec<Vec<RunRecord>> = vec![Vec::new(); sweep.points.len()];
        let mut next_row = 0;
        let mut progress = Progress::new(if train { "train" } else { "measure" }, sweep.points.len() * self.seeds, self.progress);
        println!("{}", TableRow::header(train));
        let out = &mut self.out;
        sweep.run::<B, CliError>(&tasks, self.threads, device, |output| {
            if let Some(out) = out.as_mut() {
                for record in &output.records {
                    out.write(record)
                        .map_err(|source| CliError::Io { context: format!("writing {}", out.path().display()), source })?;
                }
            }
            progress.advance(output.records.len());
            per_point[output.task.point].extend(output.records);
            while next_row < per_point.len() && per_point[next_row].len() == self.seeds {
                per_point[next_row].sort_by_key(|r| r.network.seed);
                println!("{}", TableRow::of(&per_point[next_row]));
                next_row += 1;
            }
            Ok(())
        })?;
        progress.finish();
        Ok(())
    }
}

/// One printed line of the `measure` / `train` table.
pub struct TableRow<'a> {
    records: &'a [RunRecord],
}

impl<'a> TableRow<'a> {
    pub fn header(train: bool) -> String {
        let mut header = format!(
            "{:<10} {:<15} {:>5} {:>5} {:>6}  {:>15}  {:>15}  {:>17}  {:>5}  {:>10}",
            "activation", "layer", "depth", "width", "params", "act. ratio", "act. count", "V3", "C2C", "med RV_out"
        );
        if train {
            header += &format!("  {:>15}  {:>15}  {:>8}", "train acc", "test acc", "diverged");
        }
        header
    }

    pub fn of(records: &'a [RunRecord]) -> Self {
        Self { records }
    }
}

impl std::fmt::Display for TableRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = &self.records[0].network;
        let measures: Vec<_> = self.records.iter().map(|r| &r.network.measures).collect();
        let summary = |values: Vec<f64>| Summary::of(values);
        let pm = |s: Summary, digits: usize| format!("{:.*} ± {:.*}", digits, s.mean, digits, s.std);
        let c2c = measures.iter().filter(|m| m.c2c).count() as f64 / measures.len() as f64;
        write!(
            f,
            "{:<10} {:<15} {:>5} {:>5} {:>6}  {:>15}  {:>15}  {:>17}  {:>5.2}  {:>10.3e}",
            first.activation,
            first.layer,
            first.depth,
            first.width,
            first.measures.params,
            pm(summary(measures.iter().map(|m| m.activation_ratio).collect()), 3),
            pm(summary(measures.iter().map(|m| m.activation_count).collect()), 1),
            pm(summary(measures.iter().map(|m| m.v3).collect()), 4),
            c2c,
            summary(measures.iter().map(|m| m.rv_out).collect()).median
        )?;
        let trained: Vec<_> = self.records.iter().filter_map(|r| r.training.as_ref()).collect();
        if !trained.is_empty() {
            let ok = || trained.iter().filter(|t| !t.diverged);
            write!(
                f,
                "  {:>15}  {:>15}  {:>8}",
                pm(summary(ok().map(|t| t.train_acc).collect()), 3),
                pm(summary(ok().map(|t| t.test_acc).collect()), 3),
                trained.iter().filter(|t| t.diverged).count()
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// measure

#[derive(Args, Debug)]
pub struct MeasureArgs {
    #[command(flatten)]
    pub sweep: SweepArgs,
}

impl MeasureArgs {
    pub fn plan(&self, registry: &Registry) -> Result<SweepPlan, UsageError> {
        self.sweep.plan(registry, None)
    }
}

// ---------------------------------------------------------------------------
// train

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub sweep: SweepArgs,
    /// Test-set size.
    #[arg(long, default_value_t = 10000)]
    pub test_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Points per step (default: full batch).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam steps.
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// Record the loss every this many steps.
    #[arg(long, default_value_t = 100)]
    pub log_every: usize,
}

impl TrainArgs {
    pub fn plan(&self, registry: &Registry) -> Result<SweepPlan, UsageError> {
        check_at_least("--test-size", self.test_size, 1)?;
        check_positive("--lr", self.lr)?;
        check_at_least("--steps", self.steps, 1)?;
        check_at_least("--log-every", self.log_every, 1)?;
        if let Some(batch) = self.batch_size {
            check_at_least("--batch-size", batch, 1)?;
        }
        let train = TrainSettings {
            steps: self.steps,
            learning_rate: self.lr,
            batch_size: self.batch_size,
            log_every: self.log_every,
            test_size: self.test_size,
            ..TrainSettings::default()
        };
        self.sweep.plan(registry, Some(train))
    }
}

// ---------------------------------------------------------------------------
// study

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// The study file (TOML), e.g. experiments/paper.toml.
    pub file: PathBuf,
    /// Results directory (default: results/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Discard earlier results in the directory and start over.
    #[arg(long)]
    pub fresh: bool,
    /// Compute backend, overriding the file's: ndarray or wgpu.
    #[arg(long)]
    pub backend: Option<String>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

/// A validated study run.
pub struct StudyRunPlan {
    pub study: StudyPlan,
    pub dir: PathBuf,
    pub fresh: bool,
    pub threads: usize,
    pub progress: ProgressMode,
}

impl StudyArgs {
    pub fn plan(&self, registry: &Registry) -> Result<StudyRunPlan, UsageError> {
        let backend = self
            .backend
            .as_ref()
            .map(|b| b.parse::<BackendKind>().map_err(|e| UsageError::new("--backend", e)))
            .transpose()?;
        let study = StudyConfig::load(&self.file)?.plan(registry, backend)?;
        let dir = self.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&study.config.name));
        Ok(StudyRunPlan {
            threads: self.execution.threads(study.sweep.backend)?,
            progress: self.execution.progress(),
            study,
            dir,
            fresh: self.fresh,
        })
    }
}

impl BackendJob for StudyRunPlan {
    type Output = Result<(), CliError>;

    fn run<B: ComputeBackend>(self, device: &B::Device) -> Self::Output {
        let started = std::time::Instant::now();
        let dir = ResultsDir::prepare(&self.dir, &self.study, self.fresh)?;
        let summary = run_study::<B>(&self.study, &dir, self.threads, self.progress, device)?;
        print_study_summary(&summary);
        println!("results in {} ({:.0} s)", self.dir.display(), started.elapsed().as_secs_f64());
        Ok(())
    }
}

fn print_study_summary(summary: &StudySummary) {
    println!(
        "{:<10} {:<15} {:>5} {:>6} {:>5} {:>9} {:>9} {:>7} {:>10} {:>9} {:>8}",
        "activation", "layer", "depth", "budget", "width", "act.ratio", "V3 mean", "C2C", "train acc", "test acc", "diverged"
    );
    for p in &summary.points {
        println!(
            "{:<10} {:<15} {:>5} {:>6} {:>5} {:>9.3} {:>9.5} {:>7.2} {:>10.3} {:>9.3} {:>8}",
            p.activation, p.layer, p.depth, p.budget, p.width, p.activation_ratio.mean, p.v3.mean, p.c2c_frequency,
            p.train_acc.mean, p.test_acc.mean, p.diverged
        );
    }
    println!("\nSpearman ρ against mean training accuracy:");
    for c in summary.correlations.iter().filter(|c| c.measure == "v3" || c.scope == "all") {
        println!("  {:<20} {:<17} ρ = {:>6.3}  (p = {:.4}, {} points)", c.scope, c.measure, c.spearman, c.p_value, c.points);
    }
}

// ---------------------------------------------------------------------------
// report and paper

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A study's results directory, e.g. results/paper.
    pub results: PathBuf,
    /// Where the figures go (default: RESULTS/report).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Image format: png or svg.
    #[arg(long, default_value = "png")]
    pub format: String,
    /// Size factor: 1 gives 800×560 pixels per chart, 2 doubles every length and font.
    #[arg(long, default_value_t = 2.0)]
    pub scale: f64,
}

impl ReportArgs {
    pub fn plan(&self, registry: &Registry) -> Result<(StudyResults, PathBuf, Format, f64), CliError> {
        let format = match self.format.as_str() {
            "png" => Format::Png,
            "svg" => Format::Svg,
            other => return Err(UsageError::new("--format", format!("unknown format '{other}' (allowed: png, svg)")).into()),
        };
        check_scale(self.scale)?;
        let results = StudyResults::load(&self.results, registry)?;
        let out = self.out.clone().unwrap_or_else(|| self.results.join("report"));
        Ok((results, out, format, self.scale))
    }
}

fn check_scale(scale: f64) -> Result<(), UsageError> {
    if !(scale.is_finite() && (0.25..=8.0).contains(&scale)) {
        return Err(UsageError::new("--scale", format!("must be between 0.25 and 8, got {scale}")));
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct PaperArgs {
    /// The paper's study file.
    #[arg(long, default_value = "experiments/paper.toml")]
    pub study: PathBuf,
    /// Where the figures go.
    #[arg(long, default_value = "plots")]
    pub plots: PathBuf,
    /// Size factor of the figures.
    #[arg(long, default_value_t = 2.0)]
    pub scale: f64,
    /// Compute backend: ndarray or wgpu.
    #[arg(long)]
    pub backend: Option<String>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

impl PaperArgs {
    fn study(&self, registry: &Registry) -> Result<StudyRunPlan, UsageError> {
        check_scale(self.scale)?;
        StudyArgs {
            file: self.study.clone(),
            out: None,
            fresh: false,
            backend: self.backend.clone(),
            execution: self.execution.clone(),
        }
        .plan(registry)
    }
}

// ---------------------------------------------------------------------------
// bench

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Compute backend: ndarray (CPU) or wgpu (GPU).
    #[arg(long, default_value = "ndarray")]
    pub backend: String,
    /// Networks measured per shape.
    #[arg(long, default_value_t = 50)]
    pub measure_networks: usize,
    /// Networks trained per shape.
    #[arg(long, default_value_t = 6)]
    pub train_networks: usize,
    /// Adam steps per trained network.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// The study whose wall time is measured (with the chosen threads and
    /// with one); "none" skips it.
    #[arg(long, default_value = "experiments/quick.toml")]
    pub study: String,
    /// Activation of the benchmarked networks.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// Block type of the benchmarked networks.
    #[arg(long, default_value = "dense")]
    pub layer: String,
    /// Where the figures go as JSON (default: results/bench-<backend>.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

/// A validated benchmark.
pub struct BenchPlan {
    pub backend: BackendKind,
    pub settings: BenchSettings,
    pub activation: ActivationSpec,
    pub layer: LayerSpec,
    pub study: Option<(String, StudyPlan)>,
    pub out: PathBuf,
}

impl BenchArgs {
    pub fn plan(&self, registry: &Registry) -> Result<BenchPlan, UsageError> {
        let backend: BackendKind = self.backend.parse().map_err(|e: String| UsageError::new("--backend", e))?;
        check_at_least("--measure-networks", self.measure_networks, 1)?;
        check_at_least("--train-networks", self.train_networks, 1)?;
        check_at_least("--steps", self.steps, 1)?;
        let activation = registry.activations.get(&self.activation).map_err(|e| UsageError::new("--activation", e.to_string()))?;
        let layer = registry.layers.get(&self.layer).map_err(|e| UsageError::new("--layer", e.to_string()))?;
        let study = match self.study.as_str() {
            "none" => None,
            file => {
                let plan = StudyConfig::load(Path::new(file))?.plan(registry, Some(backend))?;
                Some((file.to_string(), plan))
            }
        };
        Ok(BenchPlan {
            backend,
            settings: BenchSettings {
                measure_networks: self.measure_networks,
                train_networks: self.train_networks,
                train_steps: self.steps,
                threads: self.execution.threads(backend)?,
            },
            activation,
            layer,
            study,
            out: self.out.clone().unwrap_or_else(|| PathBuf::from("results").join(format!("bench-{backend}.json"))),
        })
    }
}

impl BackendJob for BenchPlan {
    type Output = Result<(), CliError>;

    fn run<B: ComputeBackend>(self, device: &B::Device) -> Self::Output {
        let threads = self.settings.threads;
        let matmul = matmul_gflops::<B::InnerBackend>(device);
        let shapes = bench_shapes::<B>(&self.settings, &self.activation, &self.layer, self.backend, device);
        let study = match &self.study {
            None => None,
            Some((file, plan)) => {
                let mut seconds = Vec::new();
                for threads in [threads, 1] {
                    let dir = std::env::temp_dir().join(format!("variability-bench-{}", std::process::id()));
                    let results = ResultsDir::prepare(&dir, plan, true)?;
                    let started = std::time::Instant::now();
                    run_study::<B>(plan, &results, threads, ProgressMode::Quiet, device)?;
                    seconds.push(started.elapsed().as_secs_f64());
                    let _ = std::fs::remove_dir_all(&dir);
                }
                Some(StudyBench { file: file.clone(), seconds: seconds[0], seconds_one_thread: seconds[1] })
            }
        };
        let report = BenchReport {
            version: crate::VERSION.to_string(),
            backend: self.backend,
            settings: self.settings,
            matmul_gflops_one_thread: matmul,
            // The backend runs each network on one thread; workers run side by side.
            estimated_peak_gflops: matmul * threads as f64,
            shapes,
            study,
        };
        print!("{}", report.table());
        let io = |source| CliError::Io { context: format!("writing {}", self.out.display()), source };
        if let Some(parent) = self.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&self.out, serde_json::to_string_pretty(&report).expect("serialises")).map_err(io)?;
        println!("figures in {}", self.out.display());
        Ok(())
    }
}
