//! `variability recommend`: rank candidate architectures of one budget by a
//! measure at initialisation (no training), and with `--verify K` train the
//! top and bottom K to see whether the ranking held.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::args::{ExecutionArgs, SweepArgs};
use super::runs::write_json;
use super::CliError;
use crate::error::InputError;
use crate::nn::{BackendJob, BackendKind, ComputeBackend, Registry};
use crate::problem::ProblemConfig;
use crate::stats::Summary;
use crate::study::summary::correlated_measures;
use crate::study::{NetworkKey, Point, Progress, ProgressMode, RunRecord, Sweep};
use crate::train::TrainConfig;

/// The measure `--by` defaults to: the best predictor of trainability in
/// the committed league (`plots/predictors`: V3, ρ = 0.81 on the
/// checkerboard and 0.61 on the spirals over all points).
pub const DEFAULT_PREDICTOR: &str = "v3";

#[derive(Args, Debug)]
pub struct RecommendArgs {
    /// Parameter budget P*; each candidate gets the width closest to it.
    #[arg(long, default_value_t = 2000)]
    pub budget: usize,
    /// Candidate activations, comma separated (default: every shipped one).
    #[arg(long, value_delimiter = ',')]
    pub activation: Option<Vec<String>>,
    /// Candidate block types, comma separated (default: every shipped one).
    #[arg(long, value_delimiter = ',')]
    pub layer: Option<Vec<String>>,
    /// Candidate depths, comma separated.
    #[arg(long, default_value = "1,2,4,8,16,32,64", value_delimiter = ',')]
    pub depth: Vec<usize>,
    /// The measure or proxy to rank by: v3 (default: the best predictor of
    /// the committed league, plots/predictors), activation_ratio,
    /// activation_count, rv_out, naswot, grad_norm, snip, synflow, ntk_cond,
    /// zico. Higher ranks first, except ntk_cond (lower).
    #[arg(long, default_value = DEFAULT_PREDICTOR)]
    pub by: String,
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
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// The problem the verification trains on (see `train --problem`).
    #[arg(long, default_value = "checkerboard")]
    pub problem: String,
    /// Landscape grid size G.
    #[arg(long, default_value_t = 101)]
    pub grid: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = BackendKind::default())]
    pub backend: BackendKind,
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
    by: String,
    threads: usize,
    progress: ProgressMode,
    out: PathBuf,
}

impl RecommendArgs {
    pub fn plan(&self, registry: &Registry) -> Result<RecommendPlan, InputError> {
        let measures = correlated_measures();
        if !measures.contains(&self.by.as_str()) {
            return Err(InputError::new(
                "--by",
                format!(
                    "unknown measure '{}'; allowed: {}",
                    self.by,
                    measures.join(", ")
                ),
            ));
        }
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
        let mut config = SweepArgs::defaults();
        config.model.budgets = vec![self.budget];
        config.model.activations = self.activation.clone().unwrap_or(shipped_activations);
        config.model.layers = self.layer.clone().unwrap_or(shipped_layers);
        config.model.depths = self.depth.clone();
        config.measure.grid = self.grid;
        config.measure_seeds = self.seeds;
        config.seed = self.seed;
        config.backend = self.backend;
        config.problem = ProblemConfig {
            problem: self.problem.clone(),
            ..ProblemConfig::new()
        };
        if config.problem.target().is_ok_and(|t| t.is_regression()) {
            config.problem.loss = crate::problem::Loss::Mse;
        }
        let rename = |mut error: InputError| {
            error.field = match error.field.as_str() {
                "activations" => "--activation".into(),
                "depths" => "--depth".into(),
                "measure_seeds" => "--seeds".into(),
                "train.problem" => "--problem".into(),
                "train.steps" => "--steps".into(),
                other if other.starts_with("--") => other.into(),
                other => format!("--{other}"),
            };
            error
        };
        let measure = config.check(registry).map_err(rename)?;
        let verify = if self.verify > 0 {
            InputError::at_least("--verify-seeds", self.verify_seeds, 1)?;
            config.train = TrainConfig::new().with_steps(self.steps);
            config.train_seeds = self.verify_seeds;
            config.measure_seeds = self.verify_seeds;
            Some(config.check(registry).map_err(rename)?)
        } else {
            None
        };
        Ok(RecommendPlan {
            threads: self.execution.threads(self.backend)?,
            progress: self.execution.progress(),
            measure,
            verify,
            verify_count: self.verify,
            by: self.by.clone(),
            out: self.out.clone(),
        })
    }
}

/// One ranked candidate: its measure over seeds, and its verified scores.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub rank: usize,
    /// The candidate's point in the measuring sweep.
    #[serde(skip)]
    point: usize,
    pub activation: String,
    pub layer: String,
    pub depth: usize,
    pub width: usize,
    pub params: usize,
    pub measure: String,
    pub median: f64,
    pub q25: f64,
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
    by: &'a str,
    higher_is_better: bool,
    problem: &'a str,
    score: &'a str,
    candidates: &'a [Candidate],
    version: &'a str,
    backend: String,
}

/// Whether a higher value of `measure` predicts a more trainable network.
pub fn higher_is_better(measure: &str) -> bool {
    measure != "ntk_cond"
}

impl RecommendPlan {
    pub fn backend(&self) -> BackendKind {
        self.measure.backend
    }
}

impl BackendJob for RecommendPlan {
    type Output = Result<(), CliError>;

    fn run<B: ComputeBackend>(self, device: &B::Device) -> Self::Output {
        let records = collect::<B>(&self.measure, self.threads, self.progress, device)?;
        let mut candidates = rank(&self.measure, &records, &self.by);
        let score = self.measure.problem.score_name();
        print_ranking(&candidates, &self.by);
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
                    .filter_map(|r| r.training.as_ref().map(|t| t.counted(t.train_acc)))
                    .collect();
                let summary = Summary::of(scores);
                candidates[c].verified = Some((summary.mean, summary.std));
            }
            print_verification(&candidates, &chosen[..count], &chosen[count..], score);
        }
        let problem = self.measure.problem.problem.clone();
        let recommendation = Recommendation {
            budget: self.measure.points.first().map_or(0, |p| p.budget),
            by: &self.by,
            higher_is_better: higher_is_better(&self.by),
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
    let mut progress = Progress::new(label, sweep.points.len() * sweep.networks_per_point(), mode);
    let mut records = Vec::new();
    sweep.run::<B, CliError>(&tasks, threads, device, |output| {
        progress.advance(output.records.len());
        records.extend(output.records);
        Ok(())
    })?;
    progress.finish();
    Ok(records)
}

/// The records of one point (matched by their network keys).
fn records_of<'a>(records: &'a [RunRecord], point: &Point) -> impl Iterator<Item = &'a RunRecord> {
    let key = NetworkKey::of(point, 0).point();
    records.iter().filter(move |r| r.key().point() == key)
}

/// The candidates ranked by the median of `by` over their seeds (best first;
/// candidates whose measure is null for every seed last).
fn rank(sweep: &Sweep, records: &[RunRecord], by: &str) -> Vec<Candidate> {
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
                measure: by.to_string(),
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

fn print_ranking(candidates: &[Candidate], by: &str) {
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
