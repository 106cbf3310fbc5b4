//! The flags of every command, and how they become the library's configs.

use std::path::{Path, PathBuf};

use clap::Args;

use super::runs::{BenchPlan, StudyRunPlan, SweepPlan};
use super::CliError;
use crate::bench::BenchSettings;
use crate::error::InputError;
use crate::json::JsonLines;
use crate::measure::MeasureConfig;
use crate::nn::{BackendKind, Init, Registry};
use crate::problem::{Loss, ProblemConfig};
use crate::report::plot::Format;
use crate::report::StudyResults;
use crate::study::{ModelConfig, ProgressMode, RunConfig, Shard, StudyConfig};
use crate::train::TrainConfig;

/// The flag of each config key the sweep flags set: the checker names keys,
/// the user typed flags.
const FLAGS: [(&str, &str); 19] = [
    ("activations", "--activation"),
    ("layer", "--layer"),
    ("depths", "--depth"),
    ("budget", "--budget"),
    ("measure_seeds", "--seeds"),
    ("grid", "--grid"),
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
];

/// Renames an error's config key to the flag that set it.
fn with_flag(mut error: InputError) -> InputError {
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
    /// Initialisation scheme (METHOD §2).
    #[arg(long, value_enum, default_value_t = Init::Scaled)]
    pub init: Init,
    /// C2C threshold on RV_out.
    #[arg(long, default_value_t = 1e-3)]
    pub epsilon: f64,
    /// Skip the zero-cost proxies (about 40% of measuring time); records
    /// then carry them as null, "not computed".
    #[arg(long)]
    pub no_proxies: bool,
    /// Run seed every network and data set derives from.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = BackendKind::default())]
    pub backend: BackendKind,
    /// The model problem, with its parameters: checkerboard, checkerboard:c,
    /// spirals:t (two spirals, t turns), rings:k (k concentric rings).
    #[arg(long, default_value = "checkerboard")]
    pub problem: String,
    /// Checkerboard cells per side (when --problem names none).
    #[arg(long, default_value_t = 8)]
    pub cells: usize,
    /// Training-set size (also the gradient profile's data).
    #[arg(long, default_value_t = 2000)]
    pub train_size: usize,
    /// Training loss.
    #[arg(long, value_enum, default_value_t = Loss::Bce)]
    pub loss: Loss,
    #[command(flatten)]
    pub execution: ExecutionArgs,
    /// Append one JSON record per network to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl SweepArgs {
    /// A run config with every default (for commands that set only a few keys).
    pub(crate) fn defaults() -> RunConfig {
        RunConfig {
            model: ModelConfig {
                budgets: vec![2000],
                layers: vec!["dense".into()],
                activations: vec![],
                depths: vec![],
                init: Init::Scaled,
            },
            problem: ProblemConfig::new(),
            measure: MeasureConfig::new(),
            train: TrainConfig::new(),
            measure_seeds: 1,
            train_seeds: 0,
            seed: 0,
            backend: BackendKind::default(),
        }
    }

    /// The flags as the library's config; with `train`, every network is trained.
    fn run_config(&self, train: Option<(TrainConfig, usize)>) -> RunConfig {
        let (train, test_size, train_seeds) = match train {
            Some((train, test_size)) => (train, test_size, self.seeds),
            None => (TrainConfig::new(), ProblemConfig::new().test_size, 0),
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
                epsilon: self.epsilon,
                proxies: !self.no_proxies,
            },
            train,
            measure_seeds: self.seeds,
            train_seeds,
            seed: self.seed,
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
    /// on ndarray, one on wgpu).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

impl ExecutionArgs {
    pub(crate) fn threads(&self, backend: BackendKind) -> Result<usize, InputError> {
        match self.threads {
            Some(0) => Err(InputError::new("--threads", "must be at least 1, got 0")),
            Some(threads) => Ok(threads),
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

#[derive(Args, Debug)]
pub struct MeasureArgs {
    #[command(flatten)]
    pub sweep: SweepArgs,
}

impl MeasureArgs {
    pub fn plan(&self, registry: &Registry) -> Result<SweepPlan, InputError> {
        self.sweep.plan(registry, None)
    }
}

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
    /// Adam's β₁.
    #[arg(long, default_value_t = 0.9)]
    pub adam_beta1: f64,
    /// Adam's β₂.
    #[arg(long, default_value_t = 0.999)]
    pub adam_beta2: f64,
    /// Adam's ε (PyTorch's default; Burn's own is 1e-5).
    #[arg(long, default_value_t = 1e-8)]
    pub adam_epsilon: f64,
}

impl TrainArgs {
    pub fn plan(&self, registry: &Registry) -> Result<SweepPlan, InputError> {
        let train = TrainConfig {
            steps: self.steps,
            learning_rate: self.lr,
            batch_size: self.batch_size,
            log_every: self.log_every,
            adam_beta1: self.adam_beta1,
            adam_beta2: self.adam_beta2,
            adam_epsilon: self.adam_epsilon,
        };
        self.sweep.plan(registry, Some((train, self.test_size)))
    }
}

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
    #[arg(long)]
    pub device: Option<usize>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

impl StudyArgs {
    pub fn plan(&self, registry: &Registry) -> Result<StudyRunPlan, InputError> {
        let mut study = StudyConfig::load(&self.file)?.plan(registry, self.backend)?;
        let mut dir = self
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(&study.config.name));
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
    #[arg(long, default_value_t = 2.0)]
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
    /// Compute backend.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

impl PaperArgs {
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

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = BackendKind::default())]
    pub backend: BackendKind,
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

impl BenchArgs {
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
            out: self.out.clone().unwrap_or_else(|| {
                PathBuf::from("results").join(format!("bench-{}.json", self.backend))
            }),
        })
    }
}

#[derive(Args, Debug)]
pub struct TheoryArgs {
    /// Activations, comma separated.
    #[arg(long, default_value = "relu,abs,tanh", value_delimiter = ',')]
    pub activation: Vec<String>,
    /// Numbers of hidden layers, comma separated.
    #[arg(long, default_value = "8", value_delimiter = ',')]
    pub depth: Vec<usize>,
    /// Parameter budget: each depth gets the dense width closest to it.
    #[arg(long, default_value_t = 2000)]
    pub budget: usize,
    /// Landscape grid size G whose pairs the RV profile averages over.
    #[arg(long, default_value_t = 101)]
    pub grid: usize,
    /// Seeded grid pairs sampled for the RV profile.
    #[arg(long, default_value_t = 1000)]
    pub pairs: usize,
    /// Seed of the pair sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the predictions go as JSON.
    #[arg(long, default_value = "results/theory.json")]
    pub out: PathBuf,
}

impl TheoryArgs {
    /// The checked (activation, depth, width) triples.
    pub fn plan(
        &self,
        registry: &Registry,
    ) -> Result<Vec<(crate::nn::ActivationSpec, usize, usize)>, InputError> {
        InputError::at_least("--grid", self.grid, 4)?;
        InputError::at_least("--pairs", self.pairs, 1)?;
        let model = ModelConfig {
            budgets: vec![self.budget],
            layers: vec!["dense".into()],
            activations: self.activation.clone(),
            depths: self.depth.clone(),
            init: Init::Scaled,
        };
        let run = RunConfig {
            model,
            measure_seeds: 1,
            train_seeds: 0,
            ..SweepArgs::defaults()
        };
        let sweep = run.check(registry).map_err(with_flag)?;
        Ok(sweep
            .points
            .into_iter()
            .map(|p| (p.activation, p.config.depth, p.config.width))
            .collect())
    }
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The study's results directory the shards were given (`--out`), e.g.
    /// results/quick: its shards/i-of-n directories are merged into it.
    pub dir: PathBuf,
}
