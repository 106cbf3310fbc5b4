//! Summaries of a study (METHOD §5): per point, the mean, standard
//! deviation and median of every measure and training figure; across
//! points, Spearman's ρ of each measure against trainability.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::StudyPlan;
use super::records::{default_layer, NetworkKey, RunRecord};
use super::results::write_file;
use super::StudyError;
use crate::stats::{spearman, spearman_p_value, Summary};
use crate::train::TrainedNetwork;

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
        write_file(&dir.join("summary.json"), serde_json::to_string_pretty(self).expect("serialises").as_bytes())?;
        write_file(&dir.join("summary.csv"), self.summary_csv().as_bytes())?;
        write_file(&dir.join("correlations.csv"), self.correlations_csv().as_bytes())
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
        let training = |f: fn(&TrainedNetwork) -> f64| {
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
