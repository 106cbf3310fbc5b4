//! `variability recommend`: rank candidate architectures of one budget by a
//! measure at initialisation (no training), and with `--verify K` train the
//! top and bottom K to see whether the ranking held.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::args::{with_flag, ExecutionArgs};
use super::error::CliError;
use super::runs::write_json;
use crate::error::InputError;
use crate::measure::Measure;
use crate::nn::{BackendJob, BackendKind, ComputeBackend, Registry};
use crate::stats::Summary;
use crate::study::config::DEFAULT_BUDGET;
use crate::study::{ModelConfig, Point, Progress, ProgressMode, RunConfig, RunRecord, Sweep};

/// The measure `--by` defaults to: the best predictor of trainability in
/// the committed predictor league (`plots/predictors`, docs/predictors.md).
pub const DEFAULT_PREDICTOR: Measure = Measure::V3;

/// The flags of `variability recommend`.
#[derive(Args, Debug)]
pub struct RecommendArgs {
    /// Parameter budget P*; each candidate gets the width closest to it.
    #[arg(long, default_value_t = DEFAULT_BUDGET)]
    pub budget: usize,
    /// Candidate activations, comma separated (default: every shipped one).
    #[arg(long, value_delimiter = ',')]
    pub activation: Option<Vec<String>>,
    /// Candidate layer types, comma separated (default: every shipped one).
    #[arg(long, value_delimiter = ',')]
    pub layer: Option<Vec<String>>,
    /// Candidate depths, comma separated.
    #[arg(long, default_value = "1,2,4,8,16,32,64", value_delimiter = ',')]
    pub depth: Vec<usize>,
    /// The measure or proxy to rank by (default: the best predictor of the
    /// committed league, plots/predictors). Higher ranks first, except
    /// ntk_cond (lower).
    #[arg(long, value_enum, default_value_t = DEFAULT_PREDICTOR)]
    pub by: Measure,
    /// Networks measured per candidate.
    #[arg(long, default_value_t = 20)]
    pub seeds: usize,
    /// Train the top K and bottom K candidates and print their scores.
    #[arg(long, default_value_t = 0)]
    pub verify: usize,
    /// Networks trained per verified candidate.
    #[arg(long, default_value_t = 3)]
    pub verify_seeds: usize,
    /// Adam steps of the verification.
    #[arg(long, default_value_t = RunConfig::defaults().train.steps)]
    pub steps: usize,
    /// The problem the verification trains on (see `train --problem`).
    #[arg(long, default_value_t = RunConfig::defaults().problem.problem)]
    pub problem: String,
    /// Landscape grid size G.
    #[arg(long, default_value_t = RunConfig::defaults().measure.grid)]
    pub grid: usize,
    /// Run seed every network derives from.
    #[arg(long, default_value_t = RunConfig::defaults().run_seed)]
    pub seed: u64,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = RunConfig::defaults().backend)]
    pub backend: BackendKind,
    /// Threads and progress output.
    #[command(flatten)]
    pub execution: ExecutionArgs,
    /// Where the ranked table goes as JSON.
    #[arg(long, default_value = "results/recommend.json")]
    pub out: PathBuf,
}

/// A checked `recommend` run.
pub struct RecommendPlan {
    measure: Sweep,
    /// The training run of `--verify` (its points are chosen after ranking).
    verify: Option<Sweep>,
    verify_count: usize,
    by: Measure,
    threads: usize,
    progress: ProgressMode,
    out: PathBuf,
}

impl RecommendArgs {
    /// Checks the flags into a plan: the measuring sweep over every candidate
    /// and, with `--verify`, the training sweep.
    pub fn plan(&self, registry: &Registry) -> Result<RecommendPlan, InputError> {
        let shipped_activations = registry
            .activations
            .names()
            .into_iter()
            .filter(|n| !n.contains(':'))
            .map(String::from)
            .collect();
        let shipped_layers = registry
            .layers
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        let model = ModelConfig::new(
            self.activation.clone().unwrap_or(shipped_activations),
            self.depth.clone(),
        )
        .with_budgets(vec![self.budget])
        .with_layers(self.layer.clone().unwrap_or(shipped_layers));
        let mut config = RunConfig::new(model).with_train_seeds(0);
        config.measure.grid = self.grid;
        config.measure_seeds = self.seeds;
        config.run_seed = self.seed;
        config.backend = self.backend;
        config.problem.problem = self.problem.clone();
        if config.problem.target().is_ok_and(|t| t.is_regression()) {
            config.problem.loss = crate::problem::Loss::Mse;
        }
        let measure = config.check(registry).map_err(with_flag)?;
        let verify = if self.verify > 0 {
            InputError::at_least("--verify-seeds", self.verify_seeds, 1)?;
            config.train.steps = self.steps;
            config.train_seeds = self.verify_seeds;
            config.measure_seeds = self.verify_seeds;
            // Here the seed counts are `--verify-seeds`, not `--seeds`.
            let verify_flag = |mut error: InputError| {
                if error.field.ends_with("_seeds") {
                    error.field = "--verify-seeds".to_string();
                }
                with_flag(error)
            };
            Some(config.check(registry).map_err(verify_flag)?)
        } else {
            None
        };
        Ok(RecommendPlan {
            threads: self.execution.threads(self.backend)?,
            progress: self.execution.progress(),
            measure,
            verify,
            verify_count: self.verify,
            by: self.by,
            out: self.out.clone(),
        })
    }
}

/// One ranked candidate: its measure over seeds, and its verified scores.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    /// Place in the ranking, from 1 (best predicted).
    pub rank: usize,
    /// The candidate's point in the measuring sweep.
    #[serde(skip)]
    point: usize,
    /// Activation name.
    pub activation: String,
    /// Layer type name.
    pub layer: String,
    /// Number of hidden layers `L`.
    pub depth: usize,
    /// Width `n` of every hidden layer, from the budget.
    pub width: usize,
    /// Actual parameter count.
    pub params: usize,
    /// Name of the measure ranked by.
    pub measure: String,
    /// Median of the measure over the seeds: the ranking key.
    pub median: f64,
    /// First quartile of the measure over the seeds.
    pub q25: f64,
    /// Third quartile of the measure over the seeds.
    pub q75: f64,
    /// Seeds whose measure was null (a singular kernel, …).
    pub missing: usize,
    /// Mean and standard deviation of the trained networks' score
    /// (accuracy, or R²), when `--verify` trained this candidate.
    pub verified: Option<(f64, f64)>,
}

#[derive(Serialize)]
struct Recommendation<'a> {
    budget: usize,
    by: &'static str,
    higher_is_better: bool,
    problem: &'a str,
    score: &'a str,
    candidates: &'a [Candidate],
    version: &'a str,
    backend: String,
}

/// Whether a higher value of `measure` predicts a more trainable network.
pub fn higher_is_better(measure: Measure) -> bool {
    measure != Measure::NtkCond
}

impl RecommendPlan {
    /// The backend the plan runs on.
    pub fn backend(&self) -> BackendKind {
        self.measure.backend
    }
}

impl BackendJob for RecommendPlan {
    type Output = Result<(), CliError>;

    fn run<B: ComputeBackend>(self, device: &B::Device) -> Self::Output {
        let records = collect::<B>(&self.measure, self.threads, self.progress, device)?;
        let mut candidates = rank(&self.measure, &records, self.by);
        let score = self.measure.problem.score_name();
        print_ranking(&candidates, self.by);
        if let Some(mut verify) = self.verify {
            let count = self.verify_count.min(candidates.len() / 2).max(1);
            let chosen: Vec<usize> = (0..count)
                .chain(candidates.len().saturating_sub(count)..candidates.len())
                .collect();
            verify.points = chosen
                .iter()
                .map(|&c| self.measure.points[candidates[c].point].clone())
                .collect();
            let trained = collect::<B>(&verify, self.threads, self.progress, device)?;
            for &c in &chosen {
                let point = &self.measure.points[candidates[c].point];
                let scores: Vec<f64> = records_of(&trained, point)
                    .filter_map(|r| r.training.as_ref().map(|t| t.counted(t.train_score)))
                    .collect();
                let summary = Summary::of(scores);
                candidates[c].verified = Some((summary.mean, summary.std));
            }
            print_verification(&candidates, &chosen[..count], &chosen[count..], score);
        }
        let problem = self.measure.problem.problem.clone();
        let recommendation = Recommendation {
            budget: self.measure.points.first().map_or(0, |p| p.budget),
            by: self.by.name(),
            higher_is_better: higher_is_better(self.by),
            problem: &problem,
            score,
            candidates: &candidates,
            version: crate::VERSION,
            backend: self.measure.backend.to_string(),
        };
        write_json(&self.out, &recommendation)?;
        println!("ranking in {}", self.out.display());
        Ok(())
    }
}

/// Runs a sweep to the end and returns its records.
fn collect<B: ComputeBackend>(
    sweep: &Sweep,
    threads: usize,
    mode: ProgressMode,
    device: &B::Device,
) -> Result<Vec<RunRecord>, CliError> {
    let tasks = sweep.tasks::<B>(&[]);
    let label = if sweep.train.is_some() {
        "verify"
    } else {
        "measure"
    };
    let (networks, cost) = tasks.size();
    let mut progress = Progress::new(label, networks, cost, mode);
    progress.announce(sweep.estimated_seconds(cost, threads));
    let mut records = Vec::new();
    sweep.run::<B, CliError>(tasks.iter(), threads, device, |output| {
        progress.advance(output.records.len(), sweep.task_cost(&output.task));
        records.extend(output.records);
        Ok(())
    })?;
    progress.finish();
    // In network order, so that sums over seeds do not depend on which
    // worker finished first.
    records.sort_by_key(RunRecord::key);
    Ok(records)
}

/// The records of one point (matched by their network keys).
fn records_of<'a>(records: &'a [RunRecord], point: &Point) -> impl Iterator<Item = &'a RunRecord> {
    let key = point.key(0, None).point();
    records.iter().filter(move |r| r.key().point() == key)
}

/// The candidates ranked by the median of `by` over their seeds (best first;
/// candidates whose measure is null for every seed last).
fn rank(sweep: &Sweep, records: &[RunRecord], by: Measure) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = sweep
        .points
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let values =
                records_of(records, point).map(|r| r.network.measures.get(by).unwrap_or(f64::NAN));
            let summary = Summary::of(values);
            Candidate {
                rank: 0,
                point: index,
                activation: point.activation.name().to_string(),
                layer: point.layer.name().to_string(),
                depth: point.config.depth,
                width: point.config.width,
                params: point.params(),
                measure: by.name().to_string(),
                median: summary.median,
                q25: summary.q25,
                q75: summary.q75,
                missing: summary.missing,
                verified: None,
            }
        })
        .collect();
    let sign = if higher_is_better(by) { -1.0 } else { 1.0 };
    let key = |c: &Candidate| {
        if c.median.is_finite() {
            sign * c.median
        } else {
            f64::INFINITY
        }
    };
    candidates.sort_by(|a, b| key(a).total_cmp(&key(b)));
    for (rank, candidate) in candidates.iter_mut().enumerate() {
        candidate.rank = rank + 1;
    }
    candidates
}

fn print_ranking(candidates: &[Candidate], by: Measure) {
    let order = if higher_is_better(by) {
        "higher"
    } else {
        "lower"
    };
    println!("Candidates ranked by {by} at initialisation ({order} is predicted more trainable):");
    println!(
        "{:>4}  {:<14} {:<16} {:>5} {:>5} {:>6}  {:>12}  {:>27}  {:>7}",
        "rank", "activation", "layer", "depth", "width", "params", "median", "IQR", "missing"
    );
    for c in candidates {
        println!(
            "{:>4}  {:<14} {:<16} {:>5} {:>5} {:>6}  {:>12.4e}  [{:>11.4e}, {:>11.4e}]  {:>7}",
            c.rank,
            c.activation,
            c.layer,
            c.depth,
            c.width,
            c.params,
            c.median,
            c.q25,
            c.q75,
            c.missing
        );
    }
}

fn print_verification(candidates: &[Candidate], top: &[usize], bottom: &[usize], score: &str) {
    let group = |name: &str, chosen: &[usize]| {
        println!("\n{name}: training {score} (mean ± std over the trained seeds)");
        let mut means = Vec::new();
        for &c in chosen {
            let c = &candidates[c];
            let (mean, std) = c.verified.unwrap_or((f64::NAN, f64::NAN));
            means.push(mean);
            println!(
                "{:>4}  {:<14} {:<16} {:>5}   {:.3} ± {:.3}",
                c.rank, c.activation, c.layer, c.depth, mean, std
            );
        }
        means.iter().sum::<f64>() / means.len().max(1) as f64
    };
    let (best, worst) = (
        group("Top of the ranking", top),
        group("Bottom of the ranking", bottom),
    );
    let verdict = if best > worst { "held" } else { "did not hold" };
    println!("\nThe recommendation {verdict}: top mean {best:.3} against bottom mean {worst:.3}.");
}
