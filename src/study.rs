//! Studies (METHOD §5): a sweep described in a TOML file, run into a results
//! directory that survives interruption.
//!
//! `results/<name>/` holds the resolved config (`study.toml`), `runs.jsonl`
//! (one record per finished network, appended and flushed), the seed-0
//! landscapes (`landscapes/`), then `summary.csv`, `summary.json` and
//! `correlations.csv`. Running a study again resumes it: finished networks
//! are kept, the rest are run.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::registry::Registry;
use crate::backend::{BackendKind, ComputeBackend};
use crate::cli::{check_at_least as at_least, check_positive as positive, UsageError};
use crate::measurement::MeasureSettings;
use crate::model::Init;
use crate::progress::{Progress, ProgressMode};
use crate::records::{default_layer, read_json_lines, JsonLines, NetworkKey, RunRecord};
use crate::stats::{spearman, spearman_p_value, Summary};
use crate::sweep::{Point, Sweep, Task};
use crate::training::TrainSettings;

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
    #[serde(default = "defaults::measure_seeds")]
    pub measure_seeds: usize,
    #[serde(default = "defaults::train_seeds")]
    pub train_seeds: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
    #[serde(default)]
    pub train: TrainSettings,
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
        101
    }
    pub fn epsilon() -> f64 {
        1e-3
    }
    pub fn measure_seeds() -> usize {
        50
    }
    pub fn train_seeds() -> usize {
        5
    }
}

/// Errors of a study run.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StudyError {
    let context = context.into();
    move |source| StudyError::Io { context, source }
}

impl StudyConfig {
    /// Reads and parses a study file; a syntax error or unknown key names
    /// the file, the line and the key.
    pub fn load(path: &Path) -> Result<Self, UsageError> {
        let text = fs::read_to_string(path)
            .map_err(|e| UsageError::new("study file", format!("cannot read '{}': {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| UsageError::new(&path.display().to_string(), e.to_string().trim().to_string()))
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
        if self.layer.names().len() == 1 { activation.to_string() } else { format!("{activation}/{layer}") }
    }

    /// Every series, layer by layer, in file order.
    pub fn series_names(&self) -> Vec<String> {
        let layers = self.layer.names();
        layers.iter().flat_map(|l| self.activations.iter().map(move |a| self.series(a, l))).collect()
    }

    fn budget_list(&self) -> Vec<usize> {
        self.budgets.clone().unwrap_or_default().into_iter().chain(self.budget).collect()
    }

    /// Checks every value and builds the plan, naming the key of any mistake.
    pub fn plan(&self, registry: &Registry, backend_flag: Option<BackendKind>) -> Result<StudyPlan, UsageError> {
        let bad = |key: &str, message: String| UsageError::new(key, message);
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(bad("name", format!("'{}' must be letters, digits, '-', '_' or '.' (it names the results folder)", self.name)));
        }
        if self.budget.is_some() && self.budgets.is_some() {
            return Err(bad("budget", "give either budget or budgets, not both".into()));
        }
        let budgets = self.budget_list();
        if budgets.is_empty() {
            return Err(bad("budget", "give budget = N or budgets = [N, …]".into()));
        }
        if self.activations.is_empty() {
            let allowed = registry.activations.names().join(", ");
            return Err(bad("activations", format!("give at least one (allowed: {allowed})")));
        }
        let activations = self
            .activations
            .iter()
            .map(|name| registry.activations.get(name).map_err(|e| bad("activations", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let layer_names = self.layer.names();
        if layer_names.is_empty() {
            return Err(bad("layer", format!("give at least one (allowed: {})", registry.layers.names().join(", "))));
        }
        let layers = layer_names
            .iter()
            .map(|name| registry.layers.get(name).map_err(|e| bad("layer", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if self.depths.is_empty() || self.depths.contains(&0) {
            return Err(bad("depths", format!("give depths of 1 or more, got {:?}", self.depths)));
        }
        at_least("grid", self.grid, 4)?;
        at_least("measure_seeds", self.measure_seeds, 1)?;
        positive("epsilon", self.epsilon)?;
        let t = &self.train;
        if self.train_seeds > 0 {
            at_least("train.steps", t.steps, 1)?;
        }
        positive("train.learning_rate", t.learning_rate)?;
        at_least("train.log_every", t.log_every, 1)?;
        at_least("train.cells", t.cells, 1)?;
        at_least("train.train_size", t.train_size, 1)?;
        at_least("train.test_size", t.test_size, 1)?;
        if let Some(batch) = t.batch_size {
            at_least("train.batch_size", batch, 1)?;
        }

        let points = Point::grid(&budgets, &layers, &activations, &self.depths, self.init).map_err(|e| bad("budget", e))?;
        let backend = backend_flag.or(self.backend).unwrap_or_default();
        let measure = MeasureSettings {
            grid: self.grid,
            epsilon: self.epsilon,
            init: self.init,
            seed: self.seed,
            problem: self.train.problem(),
            train_size: self.train.train_size,
            loss: self.train.loss,
        };
        Ok(StudyPlan {
            config: self.resolved(backend),
            sweep: Sweep { points, measure, train: (self.train_seeds > 0).then(|| self.train.clone()), backend },
            measure_seeds: self.measure_seeds,
            train_seeds: self.train_seeds,
        })
    }
}

/// A validated study.
#[derive(Clone, Debug)]
pub struct StudyPlan {
    /// The resolved config, saved as `study.toml`.
    pub config: StudyConfig,
    pub sweep: Sweep,
    pub measure_seeds: usize,
    pub train_seeds: usize,
}

impl StudyPlan {
    /// Networks per point: the trained ones are measured too.
    pub fn networks_per_point(&self) -> usize {
        self.measure_seeds.max(self.train_seeds)
    }
}

/// A study's results directory.
pub struct ResultsDir {
    pub path: PathBuf,
}

impl ResultsDir {
    pub fn runs(&self) -> PathBuf {
        self.path.join("runs.jsonl")
    }
    pub fn landscapes(&self) -> PathBuf {
        self.path.join("landscapes")
    }

    /// Makes the directory ready for `plan`: new, resumed (same resolved
    /// config) or, with `fresh`, emptied. A different config is refused.
    pub fn prepare(path: &Path, plan: &StudyPlan, fresh: bool) -> Result<Self, StudyError> {
        let dir = Self { path: path.to_path_buf() };
        let saved = path.join("study.toml");
        if fresh && path.exists() {
            for name in ["runs.jsonl", "study.toml", "summary.csv", "summary.json", "correlations.csv"] {
                let _ = fs::remove_file(path.join(name));
            }
            let _ = fs::remove_dir_all(dir.landscapes());
        }
        if saved.exists() {
            let previous = StudyConfig::load(&saved)?;
            if previous != plan.config {
                return Err(UsageError::new(
                    "study",
                    format!(
                        "'{}' holds results of a different study config; use --fresh to start over, or --out for another folder",
                        path.display()
                    ),
                )
                .into());
            }
        }
        fs::create_dir_all(dir.landscapes()).map_err(io_error(format!("creating {}", path.display())))?;
        let text = toml::to_string(&plan.config).expect("a study config serialises");
        write_atomically(&saved, text.as_bytes())?;
        Ok(dir)
    }

    /// The finished records, with any line cut short by an interruption
    /// dropped from the file so that appending continues cleanly.
    pub fn finished_records(&self) -> Result<Vec<RunRecord>, StudyError> {
        let runs = self.runs();
        if !runs.exists() {
            return Ok(Vec::new());
        }
        let records: Vec<RunRecord> = read_json_lines(&runs).map_err(io_error(format!("reading {}", runs.display())))?;
        let mut text = String::new();
        for record in &records {
            text.push_str(&serde_json::to_string(record).expect("records serialise"));
            text.push('\n');
        }
        write_atomically(&runs, text.as_bytes())?;
        Ok(records)
    }
}

/// Writes a file through a temporary file and a rename, so readers never
/// see half of it.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), StudyError> {
    let temporary = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    };
    write().map_err(io_error(format!("writing {}", path.display())))
}

/// The tasks still to run, given the networks already finished.
pub fn remaining_tasks<B: ComputeBackend>(plan: &StudyPlan, finished: &[RunRecord]) -> Vec<Task> {
    let done: HashSet<NetworkKey> = finished
        .iter()
        .filter(|r| r.training.is_some() || r.network.seed >= plan.train_seeds)
        .map(RunRecord::key)
        .collect();
    let mut train_tasks = Vec::new();
    let mut measure_tasks = Vec::new();
    for (index, point) in plan.sweep.points.iter().enumerate() {
        let todo = |range: std::ops::Range<usize>| -> Vec<usize> {
            range.filter(|&seed| !done.contains(&NetworkKey::of(point, seed))).collect()
        };
        let chunk = plan.sweep.chunk_members::<B>(point);
        train_tasks.extend(Sweep::tasks_for(index, &todo(0..plan.train_seeds), true, chunk));
        measure_tasks.extend(Sweep::tasks_for(index, &todo(plan.train_seeds..plan.networks_per_point()), false, chunk));
    }
    // Training is the long part: start it first so the workers finish together.
    train_tasks.extend(measure_tasks);
    train_tasks
}

/// Runs (or resumes) a study on backend `B`, then writes its summaries.
pub fn run_study<B: ComputeBackend>(
    plan: &StudyPlan,
    dir: &ResultsDir,
    threads: usize,
    progress: ProgressMode,
    device: &B::Device,
) -> Result<StudySummary, StudyError> {
    let finished = dir.finished_records()?;
    let tasks = remaining_tasks::<B>(plan, &finished);
    let total: usize = tasks.iter().map(|t| t.seeds.len()).sum();
    let mut runs = JsonLines::append(&dir.runs()).map_err(io_error(format!("opening {}", dir.runs().display())))?;
    let mut bar = Progress::new(&plan.config.name, total, progress);
    plan.sweep.run::<B, StudyError>(&tasks, threads, device, |output| {
        // The landscape first: a record on disk means its landscape is too.
        if let Some(landscape) = &output.landscape {
            let path = dir.landscapes().join(landscape_file_name(&landscape.layer, &landscape.activation, landscape.depth, landscape.budget));
            write_atomically(&path, serde_json::to_string(landscape).expect("serialises").as_bytes())?;
        }
        for record in &output.records {
            runs.write(record).map_err(io_error(format!("writing {}", dir.runs().display())))?;
        }
        bar.advance(output.records.len());
        Ok(())
    })?;
    bar.finish();
    let records = dir.finished_records()?;
    let summary = StudySummary::of(plan, &records);
    summary.write(&dir.path)?;
    Ok(summary)
}

/// File name of a point's seed-0 landscapes (dense points keep the names
/// they had before block types existed).
pub fn landscape_file_name(layer: &str, activation: &str, depth: usize, budget: usize) -> String {
    if layer == "dense" {
        format!("{activation}-d{depth}-b{budget}.json")
    } else {
        format!("{activation}-{layer}-d{depth}-b{budget}.json")
    }
}

// ---------------------------------------------------------------------------
// Summaries

/// The figures of one (layer, activation, depth, budget) point over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointSummary {
    /// What the point is plotted and correlated as: the activation, or
    /// `activation/layer` when the study sweeps block types.
    pub series: String,
    pub activation: String,
    #[serde(default = "default_layer")]
    pub layer: String,
    pub depth: usize,
    pub budget: usize,
    pub width: usize,
    pub params: usize,
    pub networks: usize,
    pub activation_ratio: Summary,
    pub activation_count: Summary,
    pub v3: Summary,
    pub rv_out: Summary,
    pub c2c_frequency: f64,
    pub trained: usize,
    pub train_acc: Summary,
    pub best_train_acc: Summary,
    pub test_acc: Summary,
    pub final_loss: Summary,
    pub rv_out_trained: Summary,
    pub trapped: usize,
    pub diverged: usize,
}

/// Spearman's ρ between a measure at initialisation and training accuracy
/// across the points of one scope (an activation, or all).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    pub scope: String,
    pub measure: String,
    pub points: usize,
    pub spearman: f64,
    pub p_value: f64,
}

/// Everything a finished study reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudySummary {
    pub name: String,
    pub points: Vec<PointSummary>,
    pub correlations: Vec<Correlation>,
}

/// Measures at initialisation that are correlated with trainability.
pub const CORRELATED_MEASURES: [&str; 4] = ["v3", "activation_ratio", "activation_count", "rv_out"];

const PERMUTATIONS: usize = 10_000;

impl StudySummary {
    pub fn of(plan: &StudyPlan, records: &[RunRecord]) -> Self {
        let mut groups: BTreeMap<_, Vec<&RunRecord>> = BTreeMap::new();
        for record in records {
            groups.entry(record.key().point()).or_default().push(record);
        }
        // Points in plan order.
        let points: Vec<PointSummary> = plan
            .sweep
            .points
            .iter()
            .filter_map(|p| groups.get(&NetworkKey::of(p, 0).point()).map(|group| (p, group)))
            .map(|(p, group)| PointSummary::of(plan.config.series(p.activation.name(), p.layer.name()), group))
            .collect();
        let mut scopes: Vec<String> = plan.config.series_names();
        scopes.push("all".into());
        let correlations = scopes
            .iter()
            .flat_map(|scope| {
                let chosen: Vec<&PointSummary> =
                    points.iter().filter(|p| (scope == "all" || &p.series == scope) && p.train_acc.count > 0).collect();
                let accuracy: Vec<f64> = chosen.iter().map(|p| p.train_acc.mean).collect();
                CORRELATED_MEASURES.iter().map(move |measure| {
                    let values: Vec<f64> = chosen.iter().map(|p| p.measure(measure).mean).collect();
                    Correlation {
                        scope: scope.clone(),
                        measure: measure.to_string(),
                        points: values.len(),
                        spearman: spearman(&values, &accuracy),
                        p_value: spearman_p_value(&values, &accuracy, PERMUTATIONS, plan.config.seed),
                    }
                })
                .collect::<Vec<_>>()
            })
            .collect();
        Self { name: plan.config.name.clone(), points, correlations }
    }

    /// Writes `summary.csv`, `summary.json` and `correlations.csv`.
    pub fn write(&self, dir: &Path) -> Result<(), StudyError> {
        write_atomically(&dir.join("summary.json"), serde_json::to_string_pretty(self).expect("serialises").as_bytes())?;
        write_atomically(&dir.join("summary.csv"), self.summary_csv().as_bytes())?;
        write_atomically(&dir.join("correlations.csv"), self.correlations_csv().as_bytes())
    }

    pub fn summary_csv(&self) -> String {
        let stats = ["activation_ratio", "activation_count", "v3", "rv_out", "train_acc", "best_train_acc", "test_acc", "final_loss", "rv_out_trained"];
        let mut header = vec!["activation", "layer", "depth", "budget", "width", "params", "networks"].into_iter().map(String::from).collect::<Vec<_>>();
        for stat in stats {
            header.extend(["mean", "std", "median"].map(|s| format!("{stat}_{s}")));
        }
        header.extend(["c2c_frequency", "trained", "trapped", "diverged"].map(String::from));
        let mut csv = header.join(",") + "\n";
        for p in &self.points {
            let mut row = vec![p.activation.clone(), p.layer.clone(), p.depth.to_string(), p.budget.to_string(), p.width.to_string(), p.params.to_string(), p.networks.to_string()];
            for stat in stats {
                let s = p.measure(stat);
                row.extend([s.mean, s.std, s.median].map(csv_number));
            }
            row.extend([csv_number(p.c2c_frequency), p.trained.to_string(), p.trapped.to_string(), p.diverged.to_string()]);
            csv += &(row.join(",") + "\n");
        }
        csv
    }

    pub fn correlations_csv(&self) -> String {
        let mut csv = String::from("scope,measure,points,spearman,p_value\n");
        for c in &self.correlations {
            csv += &format!("{},{},{},{},{}\n", c.scope, c.measure, c.points, csv_number(c.spearman), csv_number(c.p_value));
        }
        csv
    }
}

/// Numbers in CSV: empty for NaN, plain otherwise.
fn csv_number(value: f64) -> String {
    if value.is_finite() { format!("{value:.6}") } else { String::new() }
}

impl PointSummary {
    fn of(series: String, group: &[&RunRecord]) -> Self {
        let first = &group[0].network;
        let measures = |f: fn(&RunRecord) -> f64| Summary::of(group.iter().map(|r| f(r)));
        let trained: Vec<_> = group.iter().filter_map(|r| r.training.as_ref()).collect();
        let training = |f: fn(&crate::training::TrainedNetwork) -> f64| {
            Summary::of(trained.iter().filter(|t| !t.diverged).map(|t| f(t)))
        };
        Self {
            series,
            activation: first.activation.clone(),
            layer: first.layer.clone(),
            depth: first.depth,
            budget: first.budget,
            width: first.width,
            params: first.measures.params,
            networks: group.len(),
            activation_ratio: measures(|r| r.network.measures.activation_ratio),
            activation_count: measures(|r| r.network.measures.activation_count),
            v3: measures(|r| r.network.measures.v3),
            rv_out: measures(|r| r.network.measures.rv_out),
            c2c_frequency: group.iter().filter(|r| r.network.measures.c2c).count() as f64 / group.len() as f64,
            trained: trained.len(),
            train_acc: training(|t| t.train_acc),
            best_train_acc: training(|t| t.best_train_acc),
            test_acc: training(|t| t.test_acc),
            final_loss: training(|t| t.final_loss),
            rv_out_trained: training(|t| t.rv_out_trained),
            trapped: trained.iter().filter(|t| t.trapped).count(),
            diverged: trained.iter().filter(|t| t.diverged).count(),
        }
    }

    /// A summarised figure by its name.
    pub fn measure(&self, name: &str) -> Summary {
        match name {
            "activation_ratio" => self.activation_ratio,
            "activation_count" => self.activation_count,
            "v3" => self.v3,
            "rv_out" => self.rv_out,
            "train_acc" => self.train_acc,
            "best_train_acc" => self.best_train_acc,
            "test_acc" => self.test_acc,
            "final_loss" => self.final_loss,
            "rv_out_trained" => self.rv_out_trained,
            other => panic!("no summarised figure named '{other}'"),
        }
    }
}
