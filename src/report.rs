//! Reports (METHOD §7): every figure of a study, drawn from its results
//! directory alone — `study.toml`, `runs.jsonl` and `landscapes/` — plus
//! `summary.md` with the numbers beside the figures. Nothing is recomputed
//! but summaries of the recorded numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::registry::Registry;
use crate::plot::{self, lighter, series_color, Axes, Canvas, Format, Line, Panel, PlotError, Scatter};
use crate::records::{read_json_lines, RunRecord};
use crate::stats::{spearman, Summary};
use crate::study::{landscape_file_name, write_atomically, PointSummary, StudyConfig, StudyError, StudySummary};
use crate::sweep::Landscape;

/// A study's results, loaded for drawing.
pub struct StudyResults {
    pub config: StudyConfig,
    pub records: Vec<RunRecord>,
    pub summary: StudySummary,
    pub dir: PathBuf,
}

/// Errors of a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Study(#[from] StudyError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("{0}")]
    Missing(String),
}

impl StudyResults {
    pub fn load(dir: &Path, registry: &Registry) -> Result<Self, ReportError> {
        let config_path = dir.join("study.toml");
        if !config_path.exists() {
            return Err(ReportError::Missing(format!("{}: no study.toml (is this a study's results directory?)", dir.display())));
        }
        let config = StudyConfig::load(&config_path).map_err(StudyError::from)?;
        let plan = config.plan(registry, config.backend).map_err(StudyError::from)?;
        let runs = dir.join("runs.jsonl");
        let records: Vec<RunRecord> = read_json_lines(&runs)
            .map_err(|source| StudyError::Io { context: format!("reading {}", runs.display()), source })?;
        if records.is_empty() {
            return Err(ReportError::Missing(format!("{}: no finished networks yet", runs.display())));
        }
        let summary = StudySummary::of(&plan, &records);
        Ok(Self { config, records, summary, dir: dir.to_path_buf() })
    }

    /// The seed-0 landscapes of a series' point.
    fn landscape(&self, series: &str, depth: usize, budget: usize) -> Option<Landscape> {
        let (activation, layer) = self.series_parts(series)?;
        let path = self.dir.join("landscapes").join(landscape_file_name(&layer, &activation, depth, budget));
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// Points of one series (and the first budget), by depth.
    fn points_of(&self, series: &str) -> Vec<&PointSummary> {
        let budget = self.summary.points.first().map(|p| p.budget);
        self.summary.points.iter().filter(|p| p.series == series && Some(p.budget) == budget).collect()
    }

    /// The plotted series: one per activation, or per (activation, layer)
    /// when the study sweeps block types.
    fn series(&self) -> Vec<String> {
        self.config.series_names()
    }

    /// (activation, layer) of a series.
    fn series_parts(&self, series: &str) -> Option<(String, String)> {
        let layers = self.config.layer.names();
        layers.iter().flat_map(|l| self.config.activations.iter().map(move |a| (a.clone(), l.clone())))
            .find(|(a, l)| self.config.series(a, l) == series)
    }

    /// The series a record belongs to.
    fn series_of(&self, record: &RunRecord) -> String {
        self.config.series(&record.network.activation, &record.network.layer)
    }
}

/// The caption line of every figure.
fn caption(results: &StudyResults) -> String {
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let c = &results.config;
    let budgets: Vec<String> = c.budgets.clone().unwrap_or_default().iter().chain(c.budget.iter()).map(|b| b.to_string()).collect();
    let layers = c.layer.names();
    let blocks = if layers == ["dense"] { String::new() } else { format!(" · blocks {}", layers.join(", ")) };
    format!(
        "study '{}' · budget {}{} · {} networks measured, {} trained per point · init {} · grid {} · revision {} · variability {}",
        c.name,
        budgets.join(", "),
        blocks,
        c.measure_seeds.max(c.train_seeds),
        c.train_seeds,
        c.init,
        c.grid,
        revision,
        crate::VERSION
    )
}

/// Draws every figure of METHOD §7 into `out` and writes `summary.md`.
/// Returns the files written.
pub fn write_report(results: &StudyResults, out: &Path, format: Format, scale: f64) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(out).map_err(|source| StudyError::Io { context: format!("creating {}", out.display()), source })?;
    let canvas = Canvas { format, scale, caption: caption(results) };
    let file = |name: &str| out.join(format!("{name}.{}", format.extension()));
    let mut written = Vec::new();
    let mut wrote = |path: PathBuf| written.push(path);

    // Measures and accuracy against depth.
    let by_depth = |value: fn(&PointSummary) -> (f64, f64, f64)| -> Vec<Line> {
        results
            .series()
            .iter()
            .map(|a| Line {
                label: a.clone(),
                color: series_color(a),
                points: results.points_of(a).iter().map(|p| {
                    let (y, low, high) = value(p);
                    (p.depth as f64, y, low, high)
                }).collect(),
            })
            .collect()
    };
    let mean_std = |s: Summary| (s.mean, s.mean - s.std, s.mean + s.std);
    let depth_label = if results.config.layer.names() == ["dense"] {
        "depth L (hidden layers, log scale)"
    } else {
        "depth L (hidden blocks, log scale)"
    };
    let depth_axes = |title, y| Axes { title, x: depth_label, y, log_x: true, log_y: false };
    let charts: [(&str, &str, &str, fn(&PointSummary) -> (f64, f64, f64)); 4] = [
        ("v3_vs_depth", "V3 at initialisation against depth", "V3, third-order variability (median, IQR)", |p| (p.v3.median, p.v3.q25, p.v3.q75)),
        ("activation_ratio_vs_depth", "Activation ratio against depth", "activation ratio AR (mean ± std)", |p| {
            (p.activation_ratio.mean, p.activation_ratio.mean - p.activation_ratio.std, p.activation_ratio.mean + p.activation_ratio.std)
        }),
        ("activation_count_vs_depth", "Activation count against depth", "activation count AC = AR × units (mean ± std)", |p| {
            (p.activation_count.mean, p.activation_count.mean - p.activation_count.std, p.activation_count.mean + p.activation_count.std)
        }),
        ("c2c_vs_depth", "Collapse to constant against depth", "C2C frequency, RV_out < ε (± binomial s.e.)", |p| {
            let se = (p.c2c_frequency * (1.0 - p.c2c_frequency) / p.networks as f64).sqrt();
            (p.c2c_frequency, p.c2c_frequency - se, p.c2c_frequency + se)
        }),
    ];
    for (name, title, y, value) in charts {
        plot::line_chart(&file(name), &canvas, &depth_axes(title, y), &by_depth(value))?;
        wrote(file(name));
    }
    let mut accuracy_lines = Vec::new();
    for a in results.series() {
        let points = results.points_of(&a);
        let color = series_color(&a);
        let line = |label: String, color, s: fn(&PointSummary) -> Summary| Line {
            label,
            color,
            points: points.iter().filter(|p| s(p).count > 0).map(|p| {
                let (y, low, high) = mean_std(s(p));
                (p.depth as f64, y, low, high)
            }).collect(),
        };
        accuracy_lines.push(line(format!("{a} train"), color, |p| p.train_acc));
        accuracy_lines.push(line(format!("{a} test"), lighter(color, 0.5), |p| p.test_acc));
    }
    let accuracy_axes = depth_axes("Accuracy after training against depth", "accuracy on the checkerboard (mean ± std)");
    plot::line_chart(&file("accuracy_vs_depth"), &canvas, &accuracy_axes, &accuracy_lines)?;
    wrote(file("accuracy_vs_depth"));

    // Scatter plots with Spearman's ρ.
    let scatter = |x: fn(&PointSummary) -> f64, y: fn(&PointSummary) -> f64| -> Vec<Scatter> {
        let all: Vec<&PointSummary> = results.summary.points.iter().filter(|p| y(p).is_finite()).collect();
        let rho = |points: &[&PointSummary]| {
            spearman(&points.iter().map(|p| x(p)).collect::<Vec<_>>(), &points.iter().map(|p| y(p)).collect::<Vec<_>>())
        };
        let mut groups: Vec<Scatter> = results
            .series()
            .iter()
            .map(|a| {
                let mine: Vec<&PointSummary> = all.iter().copied().filter(|p| &p.series == a).collect();
                Scatter {
                    label: format!("{a} (ρ = {})", format_rho(rho(&mine))),
                    color: series_color(a),
                    points: mine.iter().map(|p| (x(p), y(p))).collect(),
                }
            })
            .collect();
        groups.push(Scatter { label: format!("all (ρ = {})", format_rho(rho(&all))), color: RGB_GREY, points: Vec::new() });
        groups
    };
    let scatters: [(&str, &str, &str, &str, fn(&PointSummary) -> f64, fn(&PointSummary) -> f64); 3] = [
        ("v3_vs_activation_ratio", "V3 against activation ratio (one point per depth)", "activation ratio AR (mean)", "V3 (mean)", |p| p.activation_ratio.mean, |p| p.v3.mean),
        ("v3_vs_activation_count", "V3 against activation count (one point per depth)", "activation count AC (mean)", "V3 (mean)", |p| p.activation_count.mean, |p| p.v3.mean),
        ("accuracy_vs_v3", "Training accuracy against V3 at initialisation", "V3 at initialisation (mean)", "training accuracy (mean)", |p| p.v3.mean, |p| p.train_acc.mean),
    ];
    for (name, title, x_label, y_label, x, y) in scatters {
        let axes = Axes { title, x: x_label, y: y_label, log_x: false, log_y: false };
        plot::scatter_chart(&file(name), &canvas, &axes, &scatter(x, y))?;
        wrote(file(name));
    }

    // Landscape galleries.
    let depths = spread_of_depths(&results.config.depths, 5);
    let budget = results.summary.points.first().map_or(0, |p| p.budget);
    let rows: Vec<String> = results.series();
    let training_points = training_overlay(results);
    let seed_zero: BTreeMap<(String, usize), &RunRecord> = results
        .records
        .iter()
        .filter(|r| r.network.seed == 0 && r.network.budget == budget)
        .map(|r| ((results.series_of(r), r.network.depth), r))
        .collect();
    let gallery = |trained: bool| -> Vec<Vec<Option<Panel>>> {
        rows.iter()
            .map(|a| {
                depths
                    .iter()
                    .map(|&d| {
                        let landscape = results.landscape(a, d, budget)?;
                        let (values, title, overlay) = if trained {
                            let accuracy = seed_zero.get(&(a.clone(), d)).and_then(|r| r.training.as_ref()).map_or(f64::NAN, |t| t.train_acc);
                            (landscape.trained?, format!("L = {d}, train acc {accuracy:.2}"), training_points.clone())
                        } else {
                            (landscape.init, format!("L = {d}, V3 = {:.4}", landscape.v3), Vec::new())
                        };
                        Some(Panel { title, grid: landscape.grid, values, overlay })
                    })
                    .collect()
            })
            .collect()
    };
    plot::gallery(&file("landscapes_init"), &canvas, "Output at initialisation on [-1, 1]², seed 0 (blue < 0 < red, own scale per panel)", &rows, &gallery(false))?;
    wrote(file("landscapes_init"));
    plot::gallery(&file("landscapes_trained"), &canvas, "Trained decision maps, seed 0 (red: logit > 0; dots: training points, black = label 1)", &rows, &gallery(true))?;
    wrote(file("landscapes_trained"));

    // Collapse profile beside the gradient profile.
    let (rv_lines, grad_lines) = profiles(results, budget);
    plot::twin_line_chart(
        &file("collapse_profile"),
        &canvas,
        "Collapse profile and gradient profile at initialisation (median over seeds)",
        (&Axes { title: "RV_l: relative variation of layer l", x: "layer l", y: "RV_l (log scale)", log_x: false, log_y: true }, &rv_lines),
        (&Axes { title: "gradient norm of layer l's weights", x: "weight layer l (last: output)", y: "‖∂loss/∂W_l‖ (log scale)", log_x: false, log_y: true }, &grad_lines),
    )?;
    wrote(file("collapse_profile"));

    let markdown = summary_markdown(results, &canvas.caption);
    write_atomically(&out.join("summary.md"), markdown.as_bytes())?;
    written.push(out.join("summary.md"));
    Ok(written)
}

const RGB_GREY: plotters::style::RGBColor = plotters::style::RGBColor(150, 150, 150);

fn format_rho(rho: f64) -> String {
    if rho.is_finite() { format!("{rho:.2}") } else { "n/a".into() }
}

/// Up to `count` depths spread over the sorted list: first, last, and between.
pub fn spread_of_depths(depths: &[usize], count: usize) -> Vec<usize> {
    let mut sorted = depths.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() <= count {
        return sorted;
    }
    let mut chosen: Vec<usize> = (0..count).map(|k| sorted[k * (sorted.len() - 1) / (count - 1)]).collect();
    chosen.dedup();
    chosen
}

/// A few hundred training points for the trained maps.
fn training_overlay(results: &StudyResults) -> Vec<(f32, f32, f32)> {
    let train = &results.config.train;
    let data = train.problem().training_set(train.train_size, results.config.seed);
    let step = (data.len() / 400).max(1);
    (0..data.len()).step_by(step).map(|i| (data.points[2 * i], data.points[2 * i + 1], data.labels[i])).collect()
}

/// Median `RV_l` and gradient norm per layer, for each activation at a few
/// depths (the deeper half of the study, where collapse happens).
fn profiles(results: &StudyResults, budget: usize) -> (Vec<Line>, Vec<Line>) {
    let mut depths = spread_of_depths(&results.config.depths, 4);
    depths.retain(|&d| d > 1);
    let shown: Vec<usize> = depths.iter().rev().take(3).rev().copied().collect();
    let (mut rv_lines, mut grad_lines) = (Vec::new(), Vec::new());
    for series in results.series() {
        for (rank, &depth) in shown.iter().enumerate() {
            let records: Vec<&RunRecord> = results
                .records
                .iter()
                .filter(|r| results.series_of(r) == series && r.network.depth == depth && r.network.budget == budget)
                .collect();
            if records.is_empty() {
                continue;
            }
            let color = lighter(series_color(&series), 0.55 * (shown.len() - 1 - rank) as f64 / shown.len().max(1) as f64);
            let median_per_layer = |values: fn(&RunRecord) -> &Vec<f64>| -> Vec<(f64, f64, f64, f64)> {
                let layers = values(records[0]).len();
                (0..layers)
                    .map(|l| {
                        let s = Summary::of(records.iter().map(|r| values(r)[l]));
                        ((l + 1) as f64, s.median, s.q25, s.q75)
                    })
                    .collect()
            };
            let label = format!("{series} L={depth}");
            rv_lines.push(Line { label: label.clone(), color, points: median_per_layer(|r| &r.network.measures.rv_layers) });
            grad_lines.push(Line { label, color, points: median_per_layer(|r| &r.network.measures.grad_norms) });
        }
    }
    (rv_lines, grad_lines)
}

/// The summary table and the correlations as Markdown.
pub fn summary_markdown(results: &StudyResults, caption: &str) -> String {
    let mut md = format!("# Study '{}'\n\n{caption}\n\n## Per point\n\n", results.config.name);
    md += "| activation | layer | depth | budget | width | params | AR | AC | V3 median [IQR] | C2C | train acc | test acc | trapped | diverged |\n";
    md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for p in &results.summary.points {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.3} | {:.1} | {:.5} [{:.5}, {:.5}] | {:.2} | {:.3} ± {:.3} | {:.3} ± {:.3} | {} | {} |",
            p.activation, p.layer, p.depth, p.budget, p.width, p.params, p.activation_ratio.mean, p.activation_count.mean,
            p.v3.median, p.v3.q25, p.v3.q75, p.c2c_frequency, p.train_acc.mean, p.train_acc.std, p.test_acc.mean,
            p.test_acc.std, p.trapped, p.diverged
        );
    }
    md += "\n## Spearman ρ of each measure at initialisation against mean training accuracy\n\n";
    md += "| scope | measure | points | ρ | p (permutation) |\n|---|---|---:|---:|---:|\n";
    for c in &results.summary.correlations {
        let _ = writeln!(md, "| {} | {} | {} | {} | {} |", c.scope, c.measure, c.points, format_rho(c.spearman), format_rho(c.p_value));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_depths_keeps_the_ends() {
        assert_eq!(spread_of_depths(&[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], 5), vec![1, 3, 8, 24, 64]);
        assert_eq!(spread_of_depths(&[8, 1, 4], 5), vec![1, 4, 8]);
    }
}
