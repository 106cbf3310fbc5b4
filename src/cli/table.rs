//! What the commands print: the `measure` / `train` table and a study's summary.

use crate::stats::Summary;
use crate::study::{RunRecord, StudySummary};
use crate::train::TrainedNetwork;

/// One printed line of the `measure` / `train` table.
pub struct TableRow<'a> {
    records: &'a [RunRecord],
}

impl<'a> TableRow<'a> {
    /// `score`: what the training score is ("acc", or "R²" for a regression target).
    pub fn header(train: bool, score: &str) -> String {
        let mut header = format!(
            "{:<10} {:<15} {:>5} {:>5} {:>6}  {:>15}  {:>15}  {:>17}  {:>5}  {:>10}",
            "activation",
            "layer",
            "depth",
            "width",
            "params",
            "act. ratio",
            "act. count",
            "V3",
            "C2C",
            "med RV_out"
        );
        if train {
            header += &format!(
                "  {:>15}  {:>15}  {:>8}",
                format!("train {score}"),
                format!("test {score}"),
                "diverged"
            );
        }
        header
    }

    /// The row of one point: `records` are its networks' records (at least one).
    pub fn of(records: &'a [RunRecord]) -> Self {
        Self { records }
    }
}

impl std::fmt::Display for TableRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = &self.records[0].network;
        let measures: Vec<_> = self.records.iter().map(|r| &r.network.measures).collect();
        let summary = |values: Vec<f64>| Summary::of(values);
        let pm =
            |s: Summary, digits: usize| format!("{:.*} ± {:.*}", digits, s.mean, digits, s.std);
        let c2c = measures.iter().filter(|m| m.c2c).count() as f64 / measures.len() as f64;
        write!(
            f,
            "{:<10} {:<15} {:>5} {:>5} {:>6}  {:>15}  {:>15}  {:>17}  {:>5.2}  {:>10.3e}",
            first.activation,
            first.layer,
            first.depth,
            first.width,
            first.measures.params,
            pm(
                summary(measures.iter().map(|m| m.activation_ratio).collect()),
                3
            ),
            pm(
                summary(measures.iter().map(|m| m.activation_count).collect()),
                1
            ),
            pm(summary(measures.iter().map(|m| m.v3).collect()), 4),
            c2c,
            summary(measures.iter().map(|m| m.rv_out).collect()).median
        )?;
        let trained: Vec<_> = self
            .records
            .iter()
            .filter_map(|r| r.training.as_ref())
            .collect();
        if !trained.is_empty() {
            let counted =
                |f: fn(&TrainedNetwork) -> f64| trained.iter().map(|t| t.counted(f(t))).collect();
            write!(
                f,
                "  {:>15}  {:>15}  {:>8}",
                pm(summary(counted(|t| t.train_score)), 3),
                pm(summary(counted(|t| t.test_score)), 3),
                trained.iter().filter(|t| t.diverged).count()
            )?;
        }
        Ok(())
    }
}

/// A finished study's per-point table and its V3 correlations.
pub fn print_study_summary(summary: &StudySummary, score: &str) {
    println!(
        "{:<10} {:<15} {:>5} {:>6} {:>5} {:>9} {:>9} {:>7} {:>10} {:>9} {:>8}",
        "activation",
        "layer",
        "depth",
        "budget",
        "width",
        "act.ratio",
        "V3 mean",
        "C2C",
        format!("train {score}"),
        format!("test {score}"),
        "diverged"
    );
    for p in &summary.points {
        println!(
            "{:<10} {:<15} {:>5} {:>6} {:>5} {:>9.3} {:>9.5} {:>7.2} {:>10.3} {:>9.3} {:>8}",
            p.activation,
            p.layer,
            p.depth,
            p.budget,
            p.width,
            p.activation_ratio.mean,
            p.v3.mean,
            p.c2c_frequency,
            p.train_score.mean,
            p.test_score.mean,
            p.diverged
        );
    }
    println!("\nSpearman ρ against mean training {score}:");
    for c in summary
        .correlations
        .iter()
        .filter(|c| c.measure == "v3" || c.scope.starts_with("all@"))
    {
        println!(
            "  {:<20} {:<17} ρ = {:>6.3}  (p = {:.4}, {} points)",
            c.scope, c.measure, c.spearman, c.p_value, c.points
        );
    }
}
