//! The flags of every command, and how they become the library's configs.

use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
use super::runs::{BenchPlan, StudyRunPlan, SweepPlan, TheoryPlan};
use crate::bench::BenchSettings;
use crate::error::InputError;
use crate::json::JsonLines;
use crate::measure::MeasureConfig;
use crate::nn::{BackendKind, Init, Registry, DEFAULT_LAYER};
use crate::problem::{Loss, ProblemConfig};
use crate::report::plot::{Format, DEFAULT_SCALE};
use crate::report::StudyResults;
use crate::study::config::DEFAULT_BUDGET;
use crate::study::{ModelConfig, ProgressMode, RunConfig, Shard, StudyConfig};
use crate::train::{AdamConfig, OptimizerKind, TrainConfig};

/// The flag of each config key the command-line flags set: the checker
/// names keys, the user typed flags. The one table of the renaming, used by
/// every command.
pub(crate) const FLAGS: [(&str, &str); 24] = [
    ("activations", "--activation"),
    ("layer", "--layer"),
    ("depths", "--depth"),
    ("budget", "--budget"),
    ("measure_seeds", "--seeds"),
    // `train` trains every network it measures: --seeds sets both.
    ("train_seeds", "--seeds"),
    ("grid", "--grid"),
    ("planes", "--planes"),
    ("epsilon", "--epsilon"),
    ("train.cells", "--cells"),
    ("train.problem", "--problem"),
    ("train.loss", "--loss"),
    ("train.train_size", "--train-size"),
    ("train.test_size", "--test-size"),
    ("train.steps", "--steps"),
    ("train.learning_rate", "--lr"),
    ("train.log_every", "--log-every"),
    ("train.batch_size", "--batch-size"),
    ("train.adam_beta1", "--adam-beta1"),
    ("train.adam_beta2", "--adam-beta2"),
    ("train.adam_epsilon", "--adam-epsilon"),
    ("train.momentum", "--momentum"),
    ("train.optimizer", "--optimizer"),
    ("train.track", "--track"),
];

/// Renames an error's config key to the flag that set it.
pub(crate) fn with_flag(mut error: InputError) -> InputError {
    if let Some((_, flag)) = FLAGS.iter().find(|(key, _)| *key == error.field) {
        error.field = flag.to_string();
    }
    error
}

/// The flags of every command that builds networks.
#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Activations, comma separated.
    #[arg(long, default_value = "relu,abs", value_delimiter = ',')]
    pub activation: Vec<String>,
    /// Numbers of hidden layers, comma separated.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value = "1,2,4,8",
        value_delimiter = ','
    )]
    pub depth: Vec<usize>,
    /// Hidden layer types, comma separated: dense, residual, layernorm-dense.
    #[arg(long, default_value = DEFAULT_LAYER, value_delimiter = ',')]
    pub layer: Vec<String>,
    /// Parameter budget P*; each depth gets the width closest to it.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_BUDGET)]
    pub budget: usize,
    /// Networks (seeds) per (activation, depth).
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().measure_seeds)]
    pub seeds: usize,
    /// Landscape grid size G (G×G points on [-1,1]², or on each plane).
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().measure.grid)]
    pub grid: usize,
    /// Planes through the training data a network is measured on when the
    /// problem has more than two inputs (METHOD §10).
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().measure.planes)]
    pub planes: usize,
    /// Initialisation scheme (METHOD §2).
    #[arg(long, value_enum, default_value_t = RunConfig::defaults().model.init)]
    pub init: Init,
    /// C2C threshold on RV_out.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().measure.c2c_threshold)]
    pub epsilon: f64,
    /// Skip the zero-cost proxies (most of the time of measuring a network);
    /// records then carry them as null, "not computed".
    #[arg(long)]
    pub no_proxies: bool,
    /// Run seed every network and data set derives from.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().run_seed)]
    pub seed: u64,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = RunConfig::defaults().backend)]
    pub backend: BackendKind,
    /// The model problem, with its parameters: checkerboard, checkerboard:c,
    /// spirals:t (two spirals, t turns), rings:k (k concentric rings),
    /// sines:k (regression), digits (8×8 handwritten digits, 10 classes),
    /// breast-cancer (30 inputs), teacher:d or teacher:d:w:L (labels of a
    /// random ReLU teacher on [-1,1]^d).
    #[arg(long, default_value_t = RunConfig::defaults().problem.problem)]
    pub problem: String,
    /// Checkerboard cells per side (when --problem names none).
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().problem.cells)]
    pub cells: usize,
    /// Training-set size (also the gradient profile's data) of a drawn set;
    /// a shipped data set's split decides its own.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().problem.train_size)]
    pub train_size: usize,
    /// Training loss.
    #[arg(long, value_enum, default_value_t = RunConfig::defaults().problem.loss)]
    pub loss: Loss,
    /// Threads and progress output.
    #[command(flatten)]
    pub execution: ExecutionArgs,
    /// Append one JSON record per network to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl SweepArgs {
    /// The flags as the library's config; with `train`, every network is trained.
    fn run_config(&self, train: Option<(TrainConfig, usize)>) -> RunConfig {
        let defaults = RunConfig::defaults();
        let (train, test_size, train_seeds) = match train {
            Some((train, test_size)) => (train, test_size, self.seeds),
            None => (defaults.train, defaults.problem.test_size, 0),
        };
        RunConfig {
            model: ModelConfig {
                budgets: vec![self.budget],
                layers: self.layer.clone(),
                activations: self.activation.clone(),
                depths: self.depth.clone(),
                init: self.init,
            },
            problem: ProblemConfig {
                problem: self.problem.clone(),
                cells: self.cells,
                train_size: self.train_size,
                test_size,
                loss: self.loss,
            },
            measure: MeasureConfig {
                grid: self.grid,
                c2c_threshold: self.epsilon,
                proxies: !self.no_proxies,
                planes: self.planes,
            },
            train,
            measure_seeds: self.seeds,
            train_seeds,
            run_seed: self.seed,
            backend: self.backend,
        }
    }

    fn plan(
        &self,
        registry: &Registry,
        train: Option<(TrainConfig, usize)>,
    ) -> Result<SweepPlan, InputError> {
        let sweep = self.run_config(train).check(registry).map_err(with_flag)?;
        let out = self
            .out
            .as_ref()
            .map(|path| {
                JsonLines::append(path).map_err(|e| {
                    InputError::new("--out", format!("cannot write '{}': {e}", path.display()))
                })
            })
            .transpose()?;
        Ok(SweepPlan {
            threads: self.execution.threads(sweep.backend)?,
            progress: self.execution.progress(),
            sweep,
            out,
        })
    }
}

/// How a run uses the machine and talks to the user.
#[derive(Args, Debug, Clone)]
pub struct ExecutionArgs {
    /// Worker threads, each running its own networks (default: one per core
    /// on the CPU backends, one on wgpu). More than this machine's logical
    /// cores is refused: extra workers only add memory and contention.
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

impl ExecutionArgs {
    pub(crate) fn threads(&self, backend: BackendKind) -> Result<usize, InputError> {
        match self.threads {
            Some(0) => Err(InputError::new("--threads", "must be at least 1, got 0")),
            Some(threads) => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                if threads > cores {
                    return Err(InputError::new(
                        "--threads",
                        format!("{threads} is more than this machine's {cores} logical cores; give 1 to {cores} (more workers than cores only add memory and contention)"),
                    ));
                }
                Ok(threads)
            }
            None => Ok(backend.default_threads()),
        }
    }

    pub(crate) fn progress(&self) -> ProgressMode {
        if self.quiet {
            ProgressMode::Quiet
        } else {
            ProgressMode::Auto
        }
    }
}

/// The flags of `variability measure`.
#[derive(Args, Debug)]
pub struct MeasureArgs {
    /// The networks and how they are measured.
    #[command(flatten)]
    pub sweep: SweepArgs,
}

impl MeasureArgs {
    /// Checks the flags into a plan that measures every network, training none.
    pub fn plan(&self, registry: &Registry) -> Result<SweepPlan, InputError> {
        self.sweep.plan(registry, None)
    }
}

/// The flags of `variability train`: a sweep's, and the training settings.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The networks and how they are measured.
    #[command(flatten)]
    pub sweep: SweepArgs,
    /// Test-set size of a drawn set; a shipped data set's split decides its own.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().problem.test_size)]
    pub test_size: usize,
    /// Learning rates, comma separated: each trains the same networks.
    #[arg(long, allow_negative_numbers = true, value_delimiter = ',', default_values_t = RunConfig::defaults().train.learning_rates)]
    pub lr: Vec<f64>,
    /// Points per step (default: full batch).
    #[arg(long, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Optimiser steps.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().train.steps)]
    pub steps: usize,
    /// Record the loss every this many steps.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().train.log_every)]
    pub log_every: usize,
    /// Adam's β₁.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().train.optimizer.beta1)]
    pub adam_beta1: f64,
    /// Adam's β₂.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().train.optimizer.beta2)]
    pub adam_beta2: f64,
    /// Adam's ε (PyTorch's default; Burn's own is 1e-5).
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().train.optimizer.epsilon)]
    pub adam_epsilon: f64,
    /// Optimisers, comma separated: adam (METHOD §4), sgd (heavy-ball
    /// momentum); each is swept with every rate.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = RunConfig::defaults().train.optimizers)]
    pub optimizer: Vec<OptimizerKind>,
    /// Steps at which the network under training is measured on the grid
    /// (V3, RV_out, activation ratio, C2C), comma separated, sorted; 0 is
    /// the initial network. Default: none.
    #[arg(long, allow_negative_numbers = true, value_delimiter = ',')]
    pub track: Vec<usize>,
    /// SGD's momentum, in [0, 1) (with --optimizer sgd).
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().train.momentum)]
    pub momentum: f64,
}

impl TrainArgs {
    /// Checks the flags into a plan that measures and trains every network.
    pub fn plan(&self, registry: &Registry) -> Result<SweepPlan, InputError> {
        let train = TrainConfig {
            steps: self.steps,
            learning_rates: self.lr.clone(),
            batch_size: self.batch_size,
            log_every: self.log_every,
            optimizer: AdamConfig {
                beta1: self.adam_beta1,
                beta2: self.adam_beta2,
                epsilon: self.adam_epsilon,
            },
            optimizers: self.optimizer.clone(),
            momentum: self.momentum,
            track: self.track.clone(),
        };
        self.sweep.plan(registry, Some((train, self.test_size)))
    }
}

/// The flags of `variability study`.
#[derive(Args, Debug)]
pub struct StudyArgs {
    /// The study file (TOML), e.g. experiments/paper.toml. Its
    /// train_seeds may exceed measure_seeds: trained networks are measured
    /// too, so each point then has train_seeds networks, all measured.
    pub file: PathBuf,
    /// Results directory (default: results/NAME).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Discard earlier results in the directory and start over.
    #[arg(long)]
    pub fresh: bool,
    /// Compute backend, overriding the file's.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Run one shard of the study's networks: i/n (0 ≤ i < n), or slurm
    /// (the job array task). Results go to OUT/shards/i-of-n; `variability
    /// merge OUT` joins them.
    #[arg(long)]
    pub shard: Option<String>,
    /// With --backend wgpu: the GPU adapter to run on (the N-th discrete
    /// GPU), so a node with several GPUs runs one shard per GPU.
    #[arg(long, allow_negative_numbers = true)]
    pub device: Option<usize>,
    /// Threads and progress output.
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

impl StudyArgs {
    /// Loads and checks the study file into a plan; with `--shard`, the
    /// shard's networks in `OUT/shards/i-of-n`.
    pub fn plan(&self, registry: &Registry) -> Result<StudyRunPlan, InputError> {
        let mut study = StudyConfig::load(&self.file)?.plan(registry, self.backend)?;
        let mut dir = self
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(&study.config.name));
        if dir.exists() && !dir.is_dir() {
            return Err(InputError::new(
                "--out",
                format!(
                    "'{}' is a file; give a folder for the results",
                    dir.display()
                ),
            ));
        }
        if let Some(text) = &self.shard {
            let shard = Shard::parse(text, |name| std::env::var(name).ok())?;
            dir = shard.dir(&dir);
            study.sweep.shard = Some(shard);
        }
        Ok(StudyRunPlan {
            threads: self.execution.threads(study.sweep.backend)?,
            progress: self.execution.progress(),
            study,
            dir,
            fresh: self.fresh,
        })
    }
}

/// The flags of `variability report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A study's results directory, e.g. results/paper.
    pub results: PathBuf,
    /// Where the figures go (default: RESULTS/report).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Image format.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
    /// Size factor: 1 gives 800×560 pixels per chart, 2 doubles every length and font.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SCALE)]
    pub scale: f64,
}

impl ReportArgs {
    /// The loaded results and the output folder.
    pub fn plan(&self, registry: &Registry) -> Result<(StudyResults, PathBuf), CliError> {
        check_scale(self.scale)?;
        let results = StudyResults::load(&self.results, registry)?;
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| self.results.join("report"));
        Ok((results, out))
    }
}

fn check_scale(scale: f64) -> Result<(), InputError> {
    if !(scale.is_finite() && (0.25..=8.0).contains(&scale)) {
        return Err(InputError::new(
            "--scale",
            format!("must be between 0.25 and 8, got {scale}"),
        ));
    }
    Ok(())
}

/// The flags of `variability paper`.
#[derive(Args, Debug)]
pub struct PaperArgs {
    /// The paper's study file.
    #[arg(long, default_value = "experiments/paper.toml")]
    pub study: PathBuf,
    /// Where the figures go.
    #[arg(long, default_value = "plots")]
    pub plots: PathBuf,
    /// Size factor of the figures.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SCALE)]
    pub scale: f64,
    /// Compute backend.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Threads and progress output.
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

impl PaperArgs {
    /// Checks the flags into the plan of the paper's study, run as `study`
    /// would run it.
    pub fn study(&self, registry: &Registry) -> Result<StudyRunPlan, InputError> {
        check_scale(self.scale)?;
        StudyArgs {
            file: self.study.clone(),
            out: None,
            fresh: false,
            backend: self.backend,
            shard: None,
            device: None,
            execution: self.execution.clone(),
        }
        .plan(registry)
    }
}

/// The flags of `variability bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = RunConfig::defaults().backend)]
    pub backend: BackendKind,
    /// Networks measured per shape.
    #[arg(long, allow_negative_numbers = true, default_value_t = 50)]
    pub measure_networks: usize,
    /// Networks trained per shape.
    #[arg(long, allow_negative_numbers = true, default_value_t = 6)]
    pub train_networks: usize,
    /// Adam steps per trained network.
    #[arg(long, allow_negative_numbers = true, default_value_t = 100)]
    pub steps: usize,
    /// The study whose wall time is measured (with the chosen threads and
    /// with one); "none" skips it.
    #[arg(long, default_value = "experiments/quick.toml")]
    pub study: String,
    /// Activation of the benchmarked networks.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// Layer type of the benchmarked networks.
    #[arg(long, default_value = DEFAULT_LAYER)]
    pub layer: String,
    /// Where the figures go as JSON (default: results/bench-BACKEND.json,
    /// or results/bench-scaling-BACKEND.json with --scaling).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Instead of the fixed shapes: measuring and training time per network
    /// at budgets 2,000 / 20,000 / 200,000 and grids 51 / 101 / 201, on one
    /// thread, beside what the shards' cost model predicts.
    #[arg(long)]
    pub scaling: bool,
    /// Threads and progress output.
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

impl BenchArgs {
    /// Checks the flags into a benchmark plan.
    pub fn plan(&self, registry: &Registry) -> Result<BenchPlan, InputError> {
        InputError::at_least("--measure-networks", self.measure_networks, 1)?;
        InputError::at_least("--train-networks", self.train_networks, 1)?;
        InputError::at_least("--steps", self.steps, 1)?;
        let activation = registry
            .activations
            .get(&self.activation)
            .map_err(|e| InputError::new("--activation", e.to_string()))?;
        let layer = registry
            .layers
            .get(&self.layer)
            .map_err(|e| InputError::new("--layer", e.to_string()))?;
        let study = match self.study.as_str() {
            "none" => None,
            file => Some((
                file.to_string(),
                StudyConfig::load(Path::new(file))?.plan(registry, Some(self.backend))?,
            )),
        };
        Ok(BenchPlan {
            backend: self.backend,
            settings: BenchSettings {
                measure_networks: self.measure_networks,
                train_networks: self.train_networks,
                train_steps: self.steps,
                threads: self.execution.threads(self.backend)?,
            },
            activation,
            layer,
            study,
            scaling: self.scaling,
            out: self.out.clone().unwrap_or_else(|| {
                let name = if self.scaling {
                    "bench-scaling"
                } else {
                    "bench"
                };
                PathBuf::from("results").join(format!("{name}-{}.json", self.backend))
            }),
        })
    }
}

/// The flags of `variability theory`.
#[derive(Args, Debug)]
pub struct TheoryArgs {
    /// Activations, comma separated.
    #[arg(long, default_value = "relu,abs,tanh", value_delimiter = ',')]
    pub activation: Vec<String>,
    /// Numbers of hidden layers, comma separated.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value = "8",
        value_delimiter = ','
    )]
    pub depth: Vec<usize>,
    /// Parameter budget: each depth gets the dense width closest to it.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_BUDGET)]
    pub budget: usize,
    /// Landscape grid size G whose pairs the RV profile averages over.
    #[arg(long, allow_negative_numbers = true, default_value_t = RunConfig::defaults().measure.grid)]
    pub grid: usize,
    /// Seeded grid pairs sampled for the RV profile.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1000)]
    pub pairs: usize,
    /// Seed of the pair sample.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0)]
    pub seed: u64,
    /// Where the predictions go as JSON.
    #[arg(long, default_value = "results/theory.json")]
    pub out: PathBuf,
}

impl TheoryArgs {
    /// The checked (activation, depth, width) networks and settings.
    pub fn plan(&self, registry: &Registry) -> Result<TheoryPlan, InputError> {
        InputError::at_least("--grid", self.grid, 4)?;
        InputError::at_least("--pairs", self.pairs, 1)?;
        let model = ModelConfig::new(self.activation.clone(), self.depth.clone())
            .with_budgets(vec![self.budget]);
        let run = RunConfig::new(model)
            .with_measure_seeds(1)
            .with_train_seeds(0);
        let sweep = run.check(registry).map_err(with_flag)?;
        Ok(TheoryPlan {
            networks: sweep
                .points
                .into_iter()
                .map(|p| (p.activation, p.config.depth, p.config.width))
                .collect(),
            grid: self.grid,
            pairs: self.pairs,
            seed: self.seed,
            out: self.out.clone(),
        })
    }
}

/// The flags of `variability merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The study's results directory the shards were given (`--out`), e.g.
    /// results/quick: its shards/i-of-n directories are merged into it.
    pub dir: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct MeasureCommand {
        #[command(flatten)]
        args: MeasureArgs,
    }

    #[derive(Parser)]
    struct TrainCommand {
        #[command(flatten)]
        args: TrainArgs,
    }

    /// What a refused command line says (clap's error or the checker's,
    /// with the key renamed to its flag); `plan` plans the parsed command.
    fn refusal_of<C: Parser>(
        name: &str,
        flags: &[&str],
        plan: impl Fn(C) -> Result<SweepPlan, InputError>,
    ) -> String {
        let line = std::iter::once(name).chain(flags.iter().copied());
        match C::try_parse_from(line) {
            Err(error) => error.to_string(),
            Ok(command) => match plan(command) {
                Err(error) => error.to_string(),
                Ok(_) => panic!("{flags:?}: accepted"),
            },
        }
    }

    /// What a refused `measure` command line says.
    fn refusal(flags: &[&str]) -> String {
        refusal_of("measure", flags, |c: MeasureCommand| {
            c.args.plan(&Registry::builtin())
        })
    }

    #[test]
    fn bad_flags_are_refused_naming_the_flag() {
        let cases: &[(&[&str], &str, &str)] = &[
            (
                &["--activation", "swish"],
                "--activation",
                "allowed: relu, abs",
            ),
            (
                &["--init", "orthogonal"],
                "--init",
                "possible values: scaled, he, torch-default, xavier",
            ),
            (&["--depth", "0"], "--depth", "1 or more"),
            (
                &["--depth", "100", "--budget", "150"],
                "--budget",
                "too small for depth 100",
            ),
            (&["--grid", "3"], "--grid", "at least 4"),
            (&["--seeds", "0"], "--seeds", "at least 1"),
            (&["--epsilon", "0"], "--epsilon", "positive"),
            (
                &["--backend", "cuda"],
                "--backend",
                "possible values: ndarray, flex, wgpu",
            ),
            (&["--depth", "two"], "--depth", "invalid value"),
            (
                &["--layer", "conv"],
                "--layer",
                "allowed: dense, residual, layernorm-dense",
            ),
            (&["--problem", "moons"], "--problem", "checkerboard"),
            (&["--train-size", "0"], "--train-size", "at least 1"),
            (&["--depth", "2,2"], "--depth", "2 is listed twice"),
            // A negative number is a value the checker names, not a flag.
            (&["--depth", "-1"], "--depth", "invalid value '-1'"),
            (&["--epsilon", "-1"], "--epsilon", "positive"),
            (&["--seed", "-3"], "--seed", "invalid value '-3'"),
            (
                &["--problem", "checkerboard:4", "--cells", "6"],
                "--cells",
                "conflicts",
            ),
            (
                &["--activation", "relu,abs,relu"],
                "--activation",
                "relu is listed twice",
            ),
            (
                &["--layer", "dense,dense"],
                "--layer",
                "dense is listed twice",
            ),
            (
                &["--out", "no/such/folder/runs.jsonl"],
                "--out",
                "cannot write",
            ),
            // Inputs that would not fit in memory are refused before anything runs.
            (&["--grid", "100000"], "--grid", "of memory"),
            (&["--budget", "1000000000"], "--budget", "of memory"),
            (
                &["--train-size", "10000000000"],
                "--train-size",
                "of memory",
            ),
            (
                &["--budget", "100000000000000"],
                "--budget",
                "more than any machine holds",
            ),
            (&["--seeds", "100000000"], "--seeds", "of records in memory"),
            (&["--threads", "100000"], "--threads", "logical cores"),
        ];
        for (flags, flag, hint) in cases {
            let message = refusal(flags);
            assert!(
                message.contains(flag) && message.contains(hint),
                "{flags:?}: {message}"
            );
        }
    }

    #[test]
    fn bad_optimizer_settings_are_refused_naming_the_flag() {
        let refusal = |flags: &[&str]| {
            refusal_of("train", flags, |c: TrainCommand| {
                c.args.plan(&Registry::builtin())
            })
        };
        for (flags, hint) in [
            (
                &["--momentum", "1"][..],
                "--momentum: must be in [0, 1), got 1",
            ),
            (&["--momentum", "-0.5"][..], "--momentum: must be in [0, 1)"),
            (
                &["--optimizer", "rmsprop"][..],
                "possible values: adam, sgd",
            ),
            (&["--lr", "nan"][..], "--lr: must be a positive number"),
            (&["--lr", "inf"][..], "--lr: must be a positive number"),
            (&["--track", "0,10,5"][..], "--track: give the steps sorted"),
            (&["--track", "0,0"][..], "--track: give the steps sorted"),
            (&["--track", "0,3000"][..], "--track: step 3000 is beyond"),
        ] {
            let message = refusal(flags);
            assert!(message.contains(hint), "{flags:?}: {message}");
        }
    }

    /// The keys `RunConfig::check` can name: every string literal of its
    /// `impl` block that looks like a key (`grid`, `train.steps`).
    fn keys_the_checker_names() -> Vec<String> {
        let source = include_str!("../study/config.rs");
        let start = source.find("impl RunConfig {").expect("the checker's impl");
        let end = start + source[start..].find("\n}\n").expect("its end");
        let looks_like_key = |s: &&str| {
            let key_char =
                |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.".contains(c);
            !s.is_empty() && s.chars().all(key_char)
        };
        source[start..end]
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(looks_like_key)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_results_folder_that_is_a_file_is_refused() {
        let file = std::env::temp_dir().join(format!("variability-out-{}", std::process::id()));
        std::fs::write(&file, "not a folder").unwrap();
        #[derive(Parser)]
        struct StudyCommand {
            #[command(flatten)]
            args: StudyArgs,
        }
        let out = file.display().to_string();
        let line = ["study", "experiments/quick.toml", "--out", &out];
        let command = StudyCommand::try_parse_from(line).unwrap();
        let error = command
            .args
            .plan(&Registry::builtin())
            .err()
            .expect("refused");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(error.field, "--out");
        assert!(error.message.contains("is a file"), "{error}");
    }

    #[test]
    fn every_key_the_checker_names_has_one_flag() {
        let checked = keys_the_checker_names();
        assert!(checked.len() > 15, "the key scan found only {checked:?}");
        for key in &checked {
            assert!(
                FLAGS.iter().any(|(k, _)| k == key),
                "`{key}` has no flag in FLAGS"
            );
        }
        let keys: Vec<&str> = FLAGS.iter().map(|(key, _)| *key).collect();
        let flags: Vec<&str> = FLAGS.iter().map(|(_, flag)| *flag).collect();
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(key), "{key} twice");
            let shared = flags[i] == "--seeds";
            assert!(
                shared || !flags[i + 1..].contains(&flags[i]),
                "{} twice",
                flags[i]
            );
        }
        let renamed = with_flag(InputError::new("train.train_size", "x"));
        assert_eq!(renamed.field, "--train-size");
        let unknown = with_flag(InputError::new("--threads", "x"));
        assert_eq!(unknown.field, "--threads");
    }
}
