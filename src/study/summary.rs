//! Summaries of a study (METHOD §5): per point, the mean, standard
//! deviation and median of every measure and training figure; across
//! points, Spearman's ρ of each measure against trainability.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::StudyPlan;
use super::error::{write_file, StudyError};
use super::records::{default_layer, RunRecord, SettingKey};
use crate::measure::Measure;
use crate::stats::{kendall_tau, spearman, spearman_interval, spearman_p_value, Summary};
use crate::train::{Setting, TrainedNetwork};

/// The figures of one (layer, activation, depth, budget) point over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointSummary {
    /// What the point is plotted and correlated as: the activation, or
    /// `activation/layer` when the study sweeps layer types.
    pub series: String,
    /// Activation name.
    pub activation: String,
    /// Layer type name.
    #[serde(default = "default_layer")]
    pub layer: String,
    /// Number of hidden layers `L`.
    pub depth: usize,
    /// The parameter budget `P*`.
    pub budget: usize,
    /// Width `n` of every hidden layer.
    pub width: usize,
    /// Actual parameter count `P` (METHOD §1).
    pub params: usize,
    /// Networks measured at this point.
    pub networks: usize,
    /// Activation ratio `AR` over the networks (METHOD §3).
    pub activation_ratio: Summary,
    /// Activation count `AC` over the networks (METHOD §3).
    pub activation_count: Summary,
    /// `V3` over the networks (METHOD §3).
    pub v3: Summary,
    /// `RV_out` at initialisation over the networks (METHOD §3).
    pub rv_out: Summary,
    /// Fraction of the networks collapsed to a constant at initialisation.
    pub c2c_frequency: f64,
    /// Networks trained at this point.
    pub trained: usize,
    /// Training score (accuracy, or R² for a regression target) over the
    /// trained networks; the key keeps its first name, `train_acc`.
    #[serde(rename = "train_acc")]
    pub train_score: Summary,
    /// Best training score during training (key `best_train_acc`).
    #[serde(rename = "best_train_acc")]
    pub best_train_score: Summary,
    /// Test score (key `test_acc`).
    #[serde(rename = "test_acc")]
    pub test_score: Summary,
    /// Final training loss over the trained networks, diverged ones left out
    /// (counted as missing).
    pub final_loss: Summary,
    /// `RV_out` after training, diverged networks left out (counted as missing).
    pub rv_out_trained: Summary,
    /// Trained networks still constant after training: trapped by C2C.
    pub trapped: usize,
    /// Trained networks whose loss became non-finite.
    pub diverged: usize,
    /// The zero-cost proxies by name (`PROXY_NAMES`; absent in older summaries).
    #[serde(default)]
    pub proxies: BTreeMap<String, Summary>,
    /// The training setting the training figures are at (`adam lr 1e-3`;
    /// `tuned: …` for a tuned row), when the study sweeps settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

/// Spearman's ρ (with its permutation p-value and bootstrap 95% interval)
/// and Kendall's τ between a measure at initialisation and training
/// accuracy across the points of one scope (an activation, or all) where
/// the measure is finite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// The points compared: a series at a budget (`relu@2000`), or all of
    /// them (`all@2000`).
    pub scope: String,
    /// The measure's name.
    pub measure: String,
    /// Points where the measure is finite: the sample size.
    pub points: usize,
    /// Spearman's ρ between the measure's mean and the mean training score.
    pub spearman: f64,
    /// Permutation p-value of ρ.
    pub p_value: f64,
    /// Lower end of ρ's bootstrap 95% interval.
    #[serde(default = "nan", deserialize_with = "crate::json::f64_or_nan")]
    pub spearman_low: f64,
    /// Upper end of ρ's bootstrap 95% interval.
    #[serde(default = "nan", deserialize_with = "crate::json::f64_or_nan")]
    pub spearman_high: f64,
    /// Kendall's τ between the same pairs.
    #[serde(default = "nan", deserialize_with = "crate::json::f64_or_nan")]
    pub kendall: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// Everything a finished study reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudySummary {
    /// The study's name.
    pub name: String,
    /// Each point's summary, in the plan's order.
    pub points: Vec<PointSummary>,
    /// Each measure's correlations with trainability, per budget and scope
    /// (`relu@2000` at the fixed setting, `relu@2000/tuned` against the
    /// tuned score).
    pub correlations: Vec<Correlation>,
    /// Each point at each training setting, when the study sweeps
    /// settings (METHOD §9).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_setting: Vec<PointSummary>,
    /// Each point at its best setting: the tuned trainability `A*(p)`,
    /// chosen on mean training score (ties: the smaller rate), with the test
    /// score at that setting (METHOD §9).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tuned: Vec<PointSummary>,
}

/// The figures of a point that come from training, in the columns of
/// `summary.csv`.
const TRAINING_FIGURES: [&str; 5] = [
    "train_acc",
    "best_train_acc",
    "test_acc",
    "final_loss",
    "rv_out_trained",
];

const PERMUTATIONS: usize = 10_000;
const RESAMPLES: usize = 2_000;

impl StudySummary {
    /// Summarises the records of `plan`'s study: points without records are
    /// left out.
    pub fn of(plan: &StudyPlan, records: &[RunRecord]) -> Self {
        let sweep = &plan.sweep;
        let settings = sweep.settings();
        let labelled = settings.len() > 1;
        // One summary per point and setting: the measured-only records and
        // the records trained with that setting.
        let at = |setting: Option<usize>| -> Vec<PointSummary> {
            let key = setting.map(|s| SettingKey::from(settings[s]));
            let chosen: Vec<&RunRecord> = records
                .iter()
                .filter(|r| {
                    let own = r.key().setting;
                    own.is_none() || own == key
                })
                .collect();
            let mut summaries = Self::points(plan, &chosen);
            if labelled {
                let label = setting.map(|s| settings[s].to_string());
                summaries.iter_mut().for_each(|p| p.setting = label.clone());
            }
            summaries
        };
        let points = at(sweep.fixed_setting());
        let by_setting: Vec<Vec<PointSummary>> = if labelled {
            (0..settings.len()).map(|s| at(Some(s))).collect()
        } else {
            Vec::new()
        };
        let tuned = tuned(&by_setting, &settings);
        let series = plan.config.series_names();
        let budgets = plan.config.budget_list();
        let mut correlations = correlations(&points, &series, &budgets, plan.config.seed, "");
        correlations.extend(correlations_of_tuned(
            &tuned,
            &series,
            &budgets,
            plan.config.seed,
        ));
        Self {
            name: plan.config.name.clone(),
            points,
            correlations,
            by_setting: by_setting.into_iter().flatten().collect(),
            tuned,
        }
    }

    /// The summary of every point with records among `records`, in plan
    /// order.
    fn points(plan: &StudyPlan, records: &[&RunRecord]) -> Vec<PointSummary> {
        let mut groups: BTreeMap<_, Vec<&RunRecord>> = BTreeMap::new();
        for &record in records {
            groups.entry(record.key().point()).or_default().push(record);
        }
        // Seed order: sums over a point's networks must not depend on the
        // order the workers finished them in (floating-point addition is
        // not associative), so a study summarises to the same bits.
        for group in groups.values_mut() {
            group.sort_by_key(|record| record.network.seed);
        }
        plan.sweep
            .points
            .iter()
            .filter_map(|p| groups.get(&p.key(0, None).point()).map(|group| (p, group)))
            .map(|(p, group)| {
                PointSummary::of(
                    plan.config.series(p.activation.name(), p.layer.name()),
                    group,
                )
            })
            .collect()
    }

    /// Writes `summary.csv`, `summary.json` and `correlations.csv`.
    pub fn write(&self, dir: &Path) -> Result<(), StudyError> {
        write_file(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(self)
                .expect("serialises")
                .as_bytes(),
        )?;
        write_file(&dir.join("summary.csv"), self.summary_csv().as_bytes())?;
        write_file(
            &dir.join("correlations.csv"),
            self.correlations_csv().as_bytes(),
        )
    }

    /// The points as `summary.csv`: one row per point; mean, std, median and
    /// missing of every figure.
    pub fn summary_csv(&self) -> String {
        // The column order of earlier versions: the variability measures,
        // the training figures, then the proxies.
        let variability = [
            Measure::ActivationRatio,
            Measure::ActivationCount,
            Measure::V3,
            Measure::RvOut,
        ]
        .map(Measure::name);
        let proxies = Measure::PROXIES.iter().map(|m| m.name());
        let stats: Vec<&str> = variability
            .into_iter()
            .chain(TRAINING_FIGURES)
            .chain(proxies)
            .collect();
        let mut header: Vec<String> = [
            "series",
            "activation",
            "layer",
            "depth",
            "budget",
            "width",
            "params",
            "networks",
        ]
        .map(String::from)
        .to_vec();
        for stat in &stats {
            header.extend(["mean", "std", "median", "missing"].map(|s| format!("{stat}_{s}")));
        }
        header.extend(
            ["c2c_frequency", "trained", "trapped", "diverged", "setting"].map(String::from),
        );
        let mut rows = vec![header];
        // The fixed setting's rows, the other settings', then the tuned ones.
        let fixed = self.points.first().and_then(|p| p.setting.clone());
        let others = self.by_setting.iter().filter(|p| p.setting != fixed);
        for p in self.points.iter().chain(others).chain(&self.tuned) {
            let mut row = vec![p.series.clone(), p.activation.clone(), p.layer.clone()];
            row.extend([p.depth, p.budget, p.width, p.params, p.networks].map(|n| n.to_string()));
            for stat in &stats {
                let s = p.figure(stat);
                row.extend([
                    csv_number(s.mean),
                    csv_number(s.std),
                    csv_number(s.median),
                    s.missing.to_string(),
                ]);
            }
            row.extend([
                csv_number(p.c2c_frequency),
                p.trained.to_string(),
                p.trapped.to_string(),
                p.diverged.to_string(),
                p.setting.clone().unwrap_or_default(),
            ]);
            rows.push(row);
        }
        csv_text(&rows)
    }

    /// The correlations as `correlations.csv`, one row per scope and measure.
    pub fn correlations_csv(&self) -> String {
        let header = [
            "scope",
            "measure",
            "points",
            "spearman",
            "p_value",
            "spearman_low",
            "spearman_high",
            "kendall",
        ];
        let mut rows = vec![header.map(String::from).to_vec()];
        for c in &self.correlations {
            let mut row = vec![c.scope.clone(), c.measure.clone(), c.points.to_string()];
            row.extend(
                [
                    c.spearman,
                    c.p_value,
                    c.spearman_low,
                    c.spearman_high,
                    c.kendall,
                ]
                .map(csv_number),
            );
            rows.push(row);
        }
        csv_text(&rows)
    }
}

/// Spearman's ρ of each measure against trainability across the points of
/// one budget — per series (`relu@2000`) and over all of them (`all@2000`):
/// METHOD compares architectures of the same budget only.
fn correlations(
    points: &[PointSummary],
    series: &[String],
    budgets: &[usize],
    seed: u64,
    suffix: &str,
) -> Vec<Correlation> {
    let mut correlations = Vec::new();
    for &budget in budgets {
        let scopes = series.iter().map(Some).chain([None]);
        for scope in scopes {
            let chosen: Vec<&PointSummary> = points
                .iter()
                .filter(|p| {
                    p.budget == budget
                        && scope.is_none_or(|s| &p.series == s)
                        && p.train_score.count > 0
                })
                .collect();
            let name = format!("{}@{budget}{suffix}", scope.map_or("all", |s| s.as_str()));
            for measure in Measure::ALL {
                let (values, accuracy): (Vec<f64>, Vec<f64>) = chosen
                    .iter()
                    .map(|p| (p.measure(measure).mean, p.train_score.mean))
                    .filter(|(v, _)| v.is_finite())
                    .unzip();
                let (spearman_low, spearman_high) =
                    spearman_interval(&values, &accuracy, RESAMPLES, seed);
                correlations.push(Correlation {
                    scope: name.clone(),
                    measure: measure.name().to_string(),
                    points: values.len(),
                    spearman: spearman(&values, &accuracy),
                    p_value: spearman_p_value(&values, &accuracy, PERMUTATIONS, seed),
                    spearman_low,
                    spearman_high,
                    kendall: kendall_tau(&values, &accuracy),
                });
            }
        }
    }
    correlations
}

/// The correlations against the tuned score (scopes `relu@2000/tuned`).
fn correlations_of_tuned(
    tuned: &[PointSummary],
    series: &[String],
    budgets: &[usize],
    seed: u64,
) -> Vec<Correlation> {
    if tuned.is_empty() {
        return Vec::new();
    }
    correlations(tuned, series, budgets, seed, "/tuned")
}

/// Each point at its best setting (METHOD §9): the highest mean training
/// score over the settings, ties going to the smaller rate; `by_setting`
/// holds the points at each setting, in the same order. Labelled
/// `tuned: <setting>`.
fn tuned(by_setting: &[Vec<PointSummary>], settings: &[Setting]) -> Vec<PointSummary> {
    // Matched by point, not position: an unfinished study may lack a point
    // at some settings.
    let mut points: Vec<(usize, &str, &str, usize)> = Vec::new();
    for p in by_setting.iter().flatten() {
        if !points.contains(&p.point()) {
            points.push(p.point());
        }
    }
    points
        .iter()
        .filter_map(|point| {
            let (best, row) = by_setting
                .iter()
                .enumerate()
                .filter_map(|(s, rows)| rows.iter().find(|p| p.point() == *point).map(|p| (s, p)))
                .filter(|(_, p)| p.train_score.count > 0)
                .max_by(|(a, pa), (b, pb)| {
                    pa.train_score.mean.total_cmp(&pb.train_score.mean).then(
                        settings[*b]
                            .learning_rate
                            .total_cmp(&settings[*a].learning_rate),
                    )
                })?;
            let mut row = row.clone();
            row.setting = Some(format!("tuned: {}", settings[best]));
            Some(row)
        })
        .collect()
}

/// Rows as CSV text, quoted where a field needs it.
fn csv_text(rows: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).expect("writing to memory");
    }
    String::from_utf8(writer.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

/// Numbers in CSV: empty for NaN, plain otherwise.
fn csv_number(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.6}")
    } else {
        String::new()
    }
}

impl PointSummary {
    fn of(series: String, group: &[&RunRecord]) -> Self {
        let first = &group[0].network;
        let measures = |f: fn(&RunRecord) -> f64| Summary::of(group.iter().map(|r| f(r)));
        let trained: Vec<_> = group.iter().filter_map(|r| r.training.as_ref()).collect();
        // Accuracies count a diverged run as a failed one (chance level);
        // losses and RV after training leave it out (counted as missing).
        let accuracy =
            |f: fn(&TrainedNetwork) -> f64| Summary::of(trained.iter().map(|t| t.counted(f(t))));
        let training = |f: fn(&TrainedNetwork) -> f64| {
            Summary::of(
                trained
                    .iter()
                    .map(|t| if t.diverged { f64::NAN } else { f(t) }),
            )
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
            c2c_frequency: group.iter().filter(|r| r.network.measures.c2c).count() as f64
                / group.len() as f64,
            trained: trained.len(),
            train_score: accuracy(|t| t.train_score),
            best_train_score: accuracy(|t| t.best_train_score),
            test_score: accuracy(|t| t.test_score),
            final_loss: training(|t| t.final_loss),
            rv_out_trained: training(|t| t.rv_out_trained),
            trapped: trained.iter().filter(|t| t.trapped).count(),
            diverged: trained.iter().filter(|t| t.diverged).count(),
            proxies: Measure::PROXIES
                .iter()
                .map(|&proxy| {
                    (
                        proxy.name().to_string(),
                        Summary::of(
                            group
                                .iter()
                                .map(|r| r.network.measures.get(proxy).unwrap_or(f64::NAN)),
                        ),
                    )
                })
                .collect(),
            setting: None,
        }
    }

    /// (budget, layer, activation, depth): which point this is.
    pub fn point(&self) -> (usize, &str, &str, usize) {
        (self.budget, &self.layer, &self.activation, self.depth)
    }

    /// A measure or proxy summarised over the point's networks.
    pub fn measure(&self, measure: Measure) -> Summary {
        match measure {
            Measure::ActivationRatio => self.activation_ratio,
            Measure::ActivationCount => self.activation_count,
            Measure::V3 => self.v3,
            Measure::RvOut => self.rv_out,
            // A proxy missing from an older summary has no values.
            proxy => self
                .proxies
                .get(proxy.name())
                .copied()
                .unwrap_or_else(|| Summary::of([])),
        }
    }

    /// A summarised figure by its name: a measure's, or a training
    /// figure's (`train_acc`, `best_train_acc`, `test_acc`, `final_loss`,
    /// `rv_out_trained`).
    pub fn figure(&self, name: &str) -> Summary {
        if let Some(measure) = Measure::from_name(name) {
            return self.measure(measure);
        }
        match name {
            "train_acc" => self.train_score,
            "best_train_acc" => self.best_train_score,
            "test_acc" => self.test_score,
            "final_loss" => self.final_loss,
            "rv_out_trained" => self.rv_out_trained,
            other => panic!("no summarised figure named '{other}'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::records::test_record as record;

    #[test]
    fn the_tuned_score_is_the_best_setting_with_its_own_test_score() {
        use crate::train::OptimizerKind::{Adam, Sgd};
        let setting = |optimizer, learning_rate| Setting {
            optimizer,
            learning_rate,
        };
        let settings = [setting(Adam, 1e-3), setting(Adam, 1e-2), setting(Sgd, 1e-4)];
        let point = |depth: usize, scores: [f64; 2]| {
            let records: Vec<RunRecord> = (0..2)
                .map(|seed| record(seed, 0.4, Some((scores[seed], false))))
                .collect();
            let mut point = PointSummary::of("relu".into(), &records.iter().collect::<Vec<_>>());
            point.depth = depth;
            point
        };
        let by_setting = vec![
            vec![point(1, [0.8, 0.8]), point(4, [0.7, 0.7])],
            vec![point(1, [0.9, 1.0]), point(4, [0.7, 0.7])],
            vec![point(1, [0.9, 0.9]), point(4, [0.7, 0.7])],
        ];
        let tuned = tuned(&by_setting, &settings);
        assert_eq!(tuned[0].setting.as_deref(), Some("tuned: adam lr 1e-2"));
        assert!((tuned[0].train_score.mean - 0.95).abs() < 1e-12);
        assert_eq!(tuned[0].test_score, by_setting[1][0].test_score);
        // Every setting ties: the smallest rate wins.
        assert_eq!(tuned[1].setting.as_deref(), Some("tuned: sgd lr 1e-4"));
        // An unfinished study: depth 4 is missing at two settings, so the
        // rows are matched by point, not by position.
        let unfinished = vec![
            vec![point(1, [0.8, 0.8]), point(4, [0.6, 0.6])],
            vec![point(1, [0.9, 1.0])],
            vec![],
        ];
        let tuned = super::tuned(&unfinished, &settings);
        let depths: Vec<usize> = tuned.iter().map(|p| p.depth).collect();
        assert_eq!(depths, [1, 4]);
        assert_eq!(tuned[1].setting.as_deref(), Some("tuned: adam lr 1e-3"));
        assert!((tuned[1].train_score.mean - 0.6).abs() < 1e-12);
    }

    #[test]
    fn a_diverged_run_counts_as_a_failed_one_in_trainability() {
        // Two runs at 0.9 and one that diverged (its last finite accuracy was 0.95).
        let group = [
            record(0, 0.4, Some((0.9, false))),
            record(1, 0.4, Some((0.9, false))),
            record(2, 0.4, Some((0.95, true))),
        ];
        let point = PointSummary::of("relu".into(), &group.iter().collect::<Vec<_>>());
        assert_eq!(point.trained, 3);
        assert_eq!(point.diverged, 1);
        assert!(
            (point.train_score.mean - (0.9 + 0.9 + crate::train::CHANCE_ACCURACY) / 3.0).abs()
                < 1e-12,
            "{:?}",
            point.train_score
        );
        assert_eq!(point.train_score.count, 3);
        assert_eq!(
            point.final_loss.missing, 1,
            "the diverged run's loss is reported missing, not dropped silently"
        );
    }

    #[test]
    fn non_finite_measures_are_counted_as_missing() {
        let group = [
            record(0, 0.4, None),
            record(1, f64::NAN, None),
            record(2, 1e-5, None),
        ];
        let point = PointSummary::of("relu".into(), &group.iter().collect::<Vec<_>>());
        assert_eq!((point.rv_out.count, point.rv_out.missing), (2, 1));
        assert!((point.c2c_frequency - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_summary_does_not_depend_on_the_order_records_finished_in() {
        let text = "name = \"t\"\nbudget = 10\nactivations = [\"relu\"]\ndepths = [1]\ngrid = 8";
        let plan = crate::study::StudyConfig::parse(text, "t.toml")
            .unwrap()
            .plan(&crate::nn::Registry::builtin(), None)
            .unwrap();
        // (0.1 + 0.2) + 0.3 and (0.3 + 0.2) + 0.1 differ in the last bit.
        let records = [
            record(0, 0.1, None),
            record(1, 0.2, None),
            record(2, 0.3, None),
        ];
        let reversed: Vec<RunRecord> = records.iter().rev().cloned().collect();
        let forward = StudySummary::of(&plan, &records);
        let backward = StudySummary::of(&plan, &reversed);
        assert_eq!(forward.points.len(), 1);
        assert_eq!(
            forward.points[0].rv_out.mean.to_bits(),
            backward.points[0].rv_out.mean.to_bits()
        );
    }
}
