//! Reports (METHOD §7): every figure of a study, drawn from its results
//! directory alone — `study.toml`, `runs.jsonl` and `landscapes/` — plus
//! `summary.md` with the numbers beside the figures. Nothing is recomputed
//! but summaries of the recorded numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub mod plot;

use plot::{
    lighter, series_color, Axes, BarGroup, Canvas, Format, Line, Panel, PlotError, Scatter,
};

use crate::json::read_json_lines;
use crate::measure::names::Measure;
use crate::nn::Registry;
use crate::stats::{spearman, Summary};
use crate::study::write_file;
use crate::study::{
    landscape_file_name, Landscape, OptimizerKind, Point, PointSummary, ResultsDir, RunRecord,
    Setting, SettingKey, StudyConfig, StudyError, StudySummary, TrackedStep, TrainedNetwork,
};
use crate::theory::{relu_death_probability, Theory};

/// A chart against depth: file name, title, y label, and the (median,
/// lower, upper) band of a point.
type DepthChart = (
    &'static str,
    &'static str,
    &'static str,
    fn(&PointSummary) -> (f64, f64, f64),
);

/// A study's results, loaded for drawing.
pub struct StudyResults {
    /// The study's resolved config (`study.toml`).
    pub config: StudyConfig,
    /// Every finished network's record (`runs.jsonl`).
    pub records: Vec<RunRecord>,
    /// Summaries of the records, per point and across points (METHOD §5).
    pub summary: StudySummary,
    /// The study's points (activation, layer type, width), for the theory.
    pub points: Vec<Point>,
    /// The results directory.
    pub dir: PathBuf,
    /// Networks finished, out of the study's total.
    pub networks: (usize, usize),
    /// Whether a study run holds the directory now (still running).
    pub running: bool,
    /// The training settings the study sweeps (METHOD §9); one when it
    /// does not sweep, none when it does not train.
    pub settings: Vec<Setting>,
    /// The fixed setting the main rows are at, and seed 0's trained
    /// landscape was kept at; `None` when nothing was trained.
    pub fixed_setting: Option<Setting>,
}

/// Errors of a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The results directory could not be read.
    #[error(transparent)]
    Study(#[from] StudyError),
    /// A chart could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Something the report needs is not there (no `study.toml`, no finished
    /// networks, …).
    #[error("{0}")]
    Missing(String),
}

impl StudyResults {
    /// Loads the results directory `dir`, resolving its names through
    /// `registry`, and summarises its records.
    pub fn load(dir: &Path, registry: &Registry) -> Result<Self, ReportError> {
        let config_path = dir.join("study.toml");
        if !config_path.exists() {
            return Err(ReportError::Missing(format!(
                "{}: no study.toml (is this a study's results directory?)",
                dir.display()
            )));
        }
        let config = StudyConfig::load(&config_path).map_err(StudyError::from)?;
        let plan = config
            .plan(registry, config.backend)
            .map_err(StudyError::from)?;
        let runs = dir.join("runs.jsonl");
        let records: Vec<RunRecord> = read_json_lines(&runs).map_err(|source| StudyError::Io {
            context: format!("reading {}", runs.display()),
            source,
        })?;
        if records.is_empty() {
            return Err(ReportError::Missing(format!(
                "{}: no finished networks yet",
                runs.display()
            )));
        }
        let summary = StudySummary::of(&plan, &records);
        let sweep = &plan.sweep;
        let finished = sweep.finished_keys(&records);
        Ok(Self {
            config,
            networks: (
                finished.len(),
                sweep.points.len() * sweep.records_per_point(),
            ),
            running: ResultsDir::in_use(dir),
            settings: sweep.settings(),
            fixed_setting: sweep.fixed_setting().map(|i| sweep.settings()[i]),
            records,
            summary,
            points: plan.sweep.points,
            dir: dir.to_path_buf(),
        })
    }

    /// Says how many networks of how many are in, when not all are.
    pub fn incomplete(&self) -> Option<String> {
        let (present, total) = self.networks;
        (present < total || self.running).then(|| {
            let state = if self.running {
                "the study is still running"
            } else {
                "the study stopped before the end; run it again to resume"
            };
            format!("{present} of {total} networks are in ({state}); the figures and numbers are over those")
        })
    }

    /// The seed-0 landscapes of a series' point.
    fn landscape(&self, series: &str, depth: usize, budget: usize) -> Option<Landscape> {
        let (activation, layer) = self.series_parts(series)?;
        let path = self.dir.join("landscapes").join(landscape_file_name(
            &layer,
            &activation,
            depth,
            budget,
        ));
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// Points of one series (and the first budget), by depth.
    fn points_of(&self, series: &str) -> Vec<&PointSummary> {
        let budget = self.summary.points.first().map(|p| p.budget);
        self.summary
            .points
            .iter()
            .filter(|p| p.series == series && Some(p.budget) == budget)
            .collect()
    }

    /// The plotted series: one per activation, or per (activation, layer)
    /// when the study sweeps layer types.
    fn series(&self) -> Vec<String> {
        self.config.series_names()
    }

    /// (activation, layer) of a series.
    fn series_parts(&self, series: &str) -> Option<(String, String)> {
        let layers = self.config.layer.names();
        layers
            .iter()
            .flat_map(|l| {
                self.config
                    .activations
                    .iter()
                    .map(move |a| (a.clone(), l.clone()))
            })
            .find(|(a, l)| self.config.series(a, l) == series)
    }

    /// The setting a summary row is at (its label, `tuned: ` or not).
    fn setting_of(&self, point: &PointSummary) -> Option<Setting> {
        let label = point.setting.as_deref()?.trim_start_matches("tuned: ");
        self.settings
            .iter()
            .copied()
            .find(|s| s.to_string() == label)
    }

    /// The records of a point's tracked trained networks, at the point's
    /// tuned setting when the study sweeps settings (none before the point
    /// has a tuned row).
    fn tracked_networks(&self, series: &str, depth: usize, budget: usize) -> Vec<&RunRecord> {
        let setting = if self.settings.len() > 1 {
            let tuned = self
                .summary
                .tuned
                .iter()
                .find(|t| t.series == series && t.depth == depth && t.budget == budget)
                .and_then(|t| self.setting_of(t));
            match tuned {
                Some(setting) => SettingKey::from(setting),
                None => return Vec::new(),
            }
        } else {
            match self.settings.first() {
                Some(&setting) => SettingKey::from(setting),
                None => return Vec::new(),
            }
        };
        self.records
            .iter()
            .filter(|r| {
                self.series_of(r) == series
                    && r.network.depth == depth
                    && r.network.budget == budget
                    && r.key().setting.as_ref() == Some(&setting)
            })
            .filter(|r| r.training.as_ref().is_some_and(|t| !t.tracked.is_empty()))
            .collect()
    }

    /// The series a record belongs to.
    fn series_of(&self, record: &RunRecord) -> String {
        self.config
            .series(&record.network.activation, &record.network.layer)
    }
}

/// The caption line of every figure.
fn caption(results: &StudyResults) -> String {
    // The revisions that produced the results, not the one drawing them.
    let revisions: std::collections::BTreeSet<&str> = results
        .records
        .iter()
        .map(|r| r.network.revision.as_deref().unwrap_or("unknown"))
        .collect();
    let revision = revisions.into_iter().collect::<Vec<_>>().join(", ");
    let c = &results.config;
    let budgets: Vec<String> = c
        .budgets
        .clone()
        .unwrap_or_default()
        .iter()
        .chain(c.budget.iter())
        .map(|b| b.to_string())
        .collect();
    let layers = c.layer.names();
    let blocks = if layers == ["dense"] {
        String::new()
    } else {
        format!(" · blocks {}", layers.join(", "))
    };
    let (present, total) = results.networks;
    let incomplete = if present < total {
        format!(" (incomplete: {present} of {total} networks in)")
    } else {
        String::new()
    };
    format!(
        "study '{}' · budget {}{} · {} networks measured, {} trained per point{incomplete} · init {} · grid {} · revision {} · variability {}",
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
pub fn write_report(
    results: &StudyResults,
    out: &Path,
    format: Format,
    scale: f64,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(out).map_err(|source| StudyError::Io {
        context: format!("creating {}", out.display()),
        source,
    })?;
    let figures = Figures {
        results,
        out,
        canvas: Canvas {
            format,
            scale,
            caption: caption(results),
        },
    };
    let mut written = figures.against_depth()?;
    written.extend(figures.accuracy_against_depth()?);
    written.extend(figures.scatters()?);
    written.extend(figures.ratio_curves()?);
    written.extend(figures.league()?);
    written.extend(figures.galleries()?);
    written.extend(figures.profiles()?);
    written.extend(figures.accuracy_against_rate()?);
    written.extend(figures.tuned_accuracy_against_depth()?);
    written.extend(figures.variability_during_training()?);
    let markdown = summary_markdown(results, &figures.canvas.caption);
    write_file(&out.join("summary.md"), markdown.as_bytes())?;
    written.push(out.join("summary.md"));
    Ok(written)
}

/// The figures of one report: each method draws one family and returns
/// the files it wrote.
struct Figures<'a> {
    results: &'a StudyResults,
    out: &'a Path,
    canvas: Canvas,
}

impl Figures<'_> {
    fn file(&self, name: &str) -> PathBuf {
        self.out
            .join(format!("{name}.{}", self.canvas.format.extension()))
    }

    /// The budget the per-depth figures show: the study's first.
    fn budget(&self) -> usize {
        self.results.summary.points.first().map_or(0, |p| p.budget)
    }

    fn depth_axes<'b>(&self, title: &'b str, y: &'b str) -> Axes<'b> {
        let x = if self.results.config.layer.names() == ["dense"] {
            "depth L (hidden layers, log scale)"
        } else {
            "depth L (hidden blocks, log scale)"
        };
        Axes {
            title,
            x,
            y,
            log_x: true,
            log_y: false,
            x_ticks: &[],
        }
    }

    /// One line per series of `value(point) = (y, band low, band high)` against depth.
    fn by_depth(&self, value: fn(&PointSummary) -> (f64, f64, f64)) -> Vec<Line> {
        let results = self.results;
        results
            .series()
            .iter()
            .map(|a| {
                let points = results
                    .points_of(a)
                    .iter()
                    .map(|p| {
                        let (y, low, high) = value(p);
                        (p.depth as f64, y, low, high)
                    })
                    .collect();
                Line::new(a.clone(), series_color(a), points)
            })
            .collect()
    }

    /// V3, activation ratio and count, and C2C frequency against depth.
    fn against_depth(&self) -> Result<Vec<PathBuf>, ReportError> {
        let charts: [DepthChart; 4] = [
            (
                "v3_vs_depth",
                "V3 at initialisation against depth",
                "V3, third-order variability (median, IQR)",
                |p| (p.v3.median, p.v3.q25, p.v3.q75),
            ),
            (
                "activation_ratio_vs_depth",
                "Activation ratio against depth",
                "activation ratio AR (mean ± std)",
                |p| mean_std(p.activation_ratio),
            ),
            (
                "activation_count_vs_depth",
                "Activation count against depth",
                "activation count AC = AR × units (mean ± std)",
                |p| mean_std(p.activation_count),
            ),
            (
                "c2c_vs_depth",
                "Collapse to constant against depth",
                "C2C frequency, RV_out < ε (± binomial s.e.)",
                |p| {
                    let se = (p.c2c_frequency * (1.0 - p.c2c_frequency) / p.networks as f64).sqrt();
                    (p.c2c_frequency, p.c2c_frequency - se, p.c2c_frequency + se)
                },
            ),
        ];
        let mut written = Vec::new();
        for (name, title, y, value) in charts {
            let mut lines = self.by_depth(value);
            if name == "c2c_vs_depth" {
                lines.extend(self.relu_death_lines());
            }
            plot::line_chart(
                &self.file(name),
                &self.canvas,
                &self.depth_axes(title, y),
                &lines,
            )?;
            written.push(self.file(name));
        }
        Ok(written)
    }

    /// For each dense ReLU series, Lu, Su & Karniadakis 2018's probability
    /// that a network of the point's width and depth is dead at an input
    /// (`theory::relu_death_probability`), dashed beside the measured C2C.
    fn relu_death_lines(&self) -> Vec<Line> {
        let results = self.results;
        let relu_series = results.series().into_iter().filter(|a| {
            results
                .points_of(a)
                .first()
                .is_some_and(|p| p.activation == "relu" && p.layer == "dense")
        });
        relu_series
            .map(|a| {
                let points = results
                    .points_of(&a)
                    .iter()
                    .map(|p| {
                        let dead = relu_death_probability(p.width, p.depth);
                        (p.depth as f64, dead, dead, dead)
                    })
                    .collect();
                Line {
                    dashed: true,
                    ..Line::new(
                        format!("{a} dead at an input (Lu et al. 2018)"),
                        series_color(&a),
                        points,
                    )
                }
            })
            .collect()
    }

    /// The league of predictors: |ρ| of every measure and proxy against
    /// training accuracy, with its bootstrap interval, per series and over
    /// all points of the first budget (none when nothing was trained).
    fn league(&self) -> Result<Vec<PathBuf>, ReportError> {
        let results = self.results;
        let Some(budget) = results.summary.points.first().map(|p| p.budget) else {
            return Ok(Vec::new());
        };
        let measures = Measure::ALL;
        let scopes = results
            .series()
            .into_iter()
            .map(|s| (s.clone(), series_color(&s)))
            .chain([("all".to_string(), RGB_GREY)]);
        let groups: Vec<BarGroup> = scopes
            .map(|(scope, color)| {
                let tag = format!("{scope}@{budget}");
                let values = measures
                    .iter()
                    .map(|m| {
                        let c = results
                            .summary
                            .correlations
                            .iter()
                            .find(|c| c.scope == tag && c.measure == m.name())?;
                        Some((c.spearman, c.spearman_low, c.spearman_high))
                    })
                    .collect();
                BarGroup {
                    label: scope,
                    color,
                    values,
                }
            })
            .collect();
        if groups
            .iter()
            .all(|g| g.values.iter().all(|v| !v.is_some_and(|v| v.0.is_finite())))
        {
            return Ok(Vec::new());
        }
        let short = |m: &Measure| match m {
            Measure::ActivationRatio => "act. ratio".to_string(),
            Measure::ActivationCount => "act. count".to_string(),
            other => other.name().to_string(),
        };
        let names: Vec<String> = measures.iter().map(short).collect();
        let title = format!(
            "Predictors of trainability: |Spearman ρ| with training {} (95% bootstrap interval)",
            score_name(results)
        );
        let axes = Axes {
            title: &title,
            x: "measure or proxy at initialisation",
            y: "|ρ| across depths",
            log_x: false,
            log_y: false,
            x_ticks: &[],
        };
        plot::league_chart(
            &self.file("predictor_league"),
            &self.canvas,
            &axes,
            &names,
            &groups,
        )?;
        Ok(vec![self.file("predictor_league")])
    }

    /// Training and test accuracy against depth, one pair of lines per series.
    fn accuracy_against_depth(&self) -> Result<Vec<PathBuf>, ReportError> {
        let mut lines = Vec::new();
        for a in self.results.series() {
            let points = self.results.points_of(&a);
            let color = series_color(&a);
            let line = |label: String, color, s: fn(&PointSummary) -> Summary| {
                let shown = points.iter().filter(|p| s(p).count > 0).map(|p| {
                    let (y, low, high) = mean_std(s(p));
                    (p.depth as f64, y, low, high)
                });
                Line::new(label, color, shown.collect())
            };
            lines.push(line(format!("{a} train"), color, |p| p.train_score));
            lines.push(line(format!("{a} test"), lighter(color, 0.5), |p| {
                p.test_score
            }));
        }
        let problem = self
            .results
            .config
            .train
            .problem_config()
            .target()
            .map_or_else(|_| "the problem".to_string(), |t| t.to_string());
        let y = format!("{} on {problem} (mean ± std)", score_name(self.results));
        let axes = self.depth_axes("Accuracy after training against depth", &y);
        plot::line_chart(&self.file("accuracy_vs_depth"), &self.canvas, &axes, &lines)?;
        Ok(vec![self.file("accuracy_vs_depth")])
    }

    /// One group per series of `(x(point), y(point))`, Spearman's ρ in the labels.
    fn scatter_groups(
        &self,
        x: fn(&PointSummary) -> f64,
        y: fn(&PointSummary) -> f64,
    ) -> Vec<Scatter> {
        let all: Vec<&PointSummary> = self
            .results
            .summary
            .points
            .iter()
            .filter(|p| y(p).is_finite())
            .collect();
        let rho = |points: &[&PointSummary]| {
            spearman(
                &points.iter().map(|p| x(p)).collect::<Vec<_>>(),
                &points.iter().map(|p| y(p)).collect::<Vec<_>>(),
            )
        };
        let mut groups: Vec<Scatter> = self
            .results
            .series()
            .iter()
            .map(|a| {
                let mine: Vec<&PointSummary> =
                    all.iter().copied().filter(|p| &p.series == a).collect();
                Scatter {
                    label: format!("{a} (ρ = {})", format_rho(rho(&mine))),
                    color: series_color(a),
                    points: mine.iter().map(|p| (x(p), y(p))).collect(),
                }
            })
            .collect();
        groups.push(Scatter {
            label: format!("all (ρ = {})", format_rho(rho(&all))),
            color: RGB_GREY,
            points: Vec::new(),
        });
        groups
    }

    /// V3 against activation ratio and count, accuracy against V3.
    fn scatters(&self) -> Result<Vec<PathBuf>, ReportError> {
        type Value = fn(&PointSummary) -> f64;
        let score = score_name(self.results);
        let (score_title, score_label) = (
            format!("Training {score} against V3 at initialisation"),
            format!("training {score} (mean)"),
        );
        let scatters: [(&str, &str, &str, &str, Value, Value); 3] = [
            (
                "v3_vs_activation_ratio",
                "V3 against activation ratio (one point per depth)",
                "activation ratio AR (mean)",
                "V3 (mean)",
                |p| p.activation_ratio.mean,
                |p| p.v3.mean,
            ),
            (
                "v3_vs_activation_count",
                "V3 against activation count (one point per depth)",
                "activation count AC (mean)",
                "V3 (mean)",
                |p| p.activation_count.mean,
                |p| p.v3.mean,
            ),
            (
                "accuracy_vs_v3",
                &score_title,
                "V3 at initialisation (mean)",
                &score_label,
                |p| p.v3.mean,
                |p| p.train_score.mean,
            ),
        ];
        let mut written = Vec::new();
        for (name, title, x_label, y_label, x, y) in scatters {
            let axes = Axes {
                title,
                x: x_label,
                y: y_label,
                log_x: false,
                log_y: false,
                x_ticks: &[],
            };
            plot::scatter_chart(
                &self.file(name),
                &self.canvas,
                &axes,
                &self.scatter_groups(x, y),
            )?;
            written.push(self.file(name));
        }
        Ok(written)
    }

    /// V3 and training accuracy against the measured activation ratio, one
    /// curve per depth through the study's activations in ratio order (the
    /// shifted-relu sweep of `experiments/activation_ratio.toml` moves the
    /// ratio with everything else fixed).
    fn ratio_curves(&self) -> Result<Vec<PathBuf>, ReportError> {
        type Value = fn(&PointSummary) -> (f64, f64, f64);
        let score = score_name(self.results);
        let (score_title, score_label) = (
            format!("Training {score} against the activation ratio, one curve per depth"),
            format!("training {score} (mean ± std)"),
        );
        let charts: [(&str, &str, &str, Value); 2] = [
            (
                "v3_vs_measured_ratio",
                "V3 against the measured activation ratio, one curve per depth",
                "V3 (median, IQR)",
                |p| (p.v3.median, p.v3.q25, p.v3.q75),
            ),
            (
                "accuracy_vs_activation_ratio",
                &score_title,
                &score_label,
                |p| mean_std(p.train_score),
            ),
        ];
        let budget = self.budget();
        let mut depths = self.results.config.depths.clone();
        depths.sort_unstable();
        let mut written = Vec::new();
        for (name, title, y, value) in charts {
            let lines: Vec<Line> = depths
                .iter()
                .enumerate()
                .map(|(rank, &depth)| {
                    let mut points: Vec<(f64, f64, f64, f64)> = self
                        .results
                        .summary
                        .points
                        .iter()
                        .filter(|p| {
                            p.depth == depth && p.budget == budget && value(p).0.is_finite()
                        })
                        .map(|p| {
                            let (y, low, high) = value(p);
                            (p.activation_ratio.mean, y, low, high)
                        })
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    Line::new(format!("L = {depth}"), plot::palette_color(rank), points)
                })
                .collect();
            let axes = Axes {
                title,
                x: "activation ratio AR (mean over seeds)",
                y,
                log_x: false,
                log_y: false,
                x_ticks: &[],
            };
            plot::line_chart(&self.file(name), &self.canvas, &axes, &lines)?;
            written.push(self.file(name));
        }
        Ok(written)
    }

    /// Seed 0's landscapes at initialisation and its trained decision maps,
    /// one row per series, a few depths across.
    fn galleries(&self) -> Result<Vec<PathBuf>, ReportError> {
        let results = self.results;
        let (budget, rows) = (self.budget(), results.series());
        let depths = spread_of_depths(&results.config.depths, 5);
        let training_points = training_overlay(results);
        let seed_zero: BTreeMap<(String, usize), &RunRecord> = results
            .records
            .iter()
            .filter(|r| r.network.seed == 0 && r.network.budget == budget)
            // The trained landscape is the fixed setting's: so is its title.
            .filter(|r| {
                r.training.is_none()
                    || r.key().setting == results.fixed_setting.map(SettingKey::from)
            })
            .map(|r| ((results.series_of(r), r.network.depth), r))
            .collect();
        let panel = |series: &String, depth: usize, trained: bool| -> Option<Panel> {
            let landscape = results.landscape(series, depth, budget)?;
            let (values, title, overlay) = if trained {
                let record = seed_zero.get(&(series.clone(), depth));
                let accuracy = record
                    .and_then(|r| r.training.as_ref())
                    .map_or(f64::NAN, |t| t.train_score);
                (
                    landscape.trained?,
                    format!("L = {depth}, train {} {accuracy:.2}", score_name(results)),
                    training_points.clone(),
                )
            } else {
                // On planes, V3 is the mean over the planes and logits,
                // not the panel's own.
                let v3 = if landscape.marks.is_empty() {
                    "V3"
                } else {
                    "mean V3"
                };
                (
                    landscape.init,
                    format!("L = {depth}, {v3} = {:.4}", landscape.v3),
                    Vec::new(),
                )
            };
            Some(Panel {
                title,
                grid: landscape.grid,
                values,
                overlay,
                marks: landscape
                    .marks
                    .iter()
                    .map(|&[u, v]| (u as f32, v as f32))
                    .collect(),
            })
        };
        let gallery = |trained: bool| -> Vec<Vec<Option<Panel>>> {
            rows.iter()
                .map(|a| depths.iter().map(|&d| panel(a, d, trained)).collect())
                .collect()
        };
        let on_planes = training_points.is_empty()
            && rows.iter().any(|series| {
                depths.iter().any(|&d| {
                    results
                        .landscape(series, d, budget)
                        .is_some_and(|l| !l.marks.is_empty())
                })
            });
        let titles = if on_planes {
            [
                ("landscapes_init", "Output (first logit) at initialisation on a plane through three training points (rings), seed 0 (blue < 0 < red)", false),
                ("landscapes_trained", "Trained first logit on the same plane, seed 0 (red > 0; rings: the three training points)", true),
            ]
        } else {
            [
                ("landscapes_init", "Output at initialisation on [-1, 1]², seed 0 (blue < 0 < red, own scale per panel)", false),
                ("landscapes_trained", "Trained decision maps, seed 0 (red: logit > 0; dots: training points, black = label 1)", true),
            ]
        };
        let mut written = Vec::new();
        for (name, title, trained) in titles {
            plot::gallery(
                &self.file(name),
                &self.canvas,
                title,
                &rows,
                &gallery(trained),
            )?;
            written.push(self.file(name));
        }
        Ok(written)
    }

    /// Training score against learning rate (METHOD §9): one panel per
    /// series (and optimiser), one curve per depth, each curve's tuned
    /// rate ringed. None unless the study sweeps two rates or more.
    fn accuracy_against_rate(&self) -> Result<Vec<PathBuf>, ReportError> {
        let results = self.results;
        let mut rates: Vec<f64> = results.settings.iter().map(|s| s.learning_rate).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        if rates.len() < 2 || results.summary.by_setting.is_empty() {
            return Ok(Vec::new());
        }
        let mut optimizers: Vec<OptimizerKind> = Vec::new();
        for setting in &results.settings {
            if !optimizers.contains(&setting.optimizer) {
                optimizers.push(setting.optimizer);
            }
        }
        let ticks: Vec<(f64, String)> = rates.iter().map(|&r| (r, format!("{r:e}"))).collect();
        let mut depths = results.config.depths.clone();
        depths.sort_unstable();
        let budget = self.budget();
        let score = score_name(results);
        let y = format!("training {score} (mean ± std)");
        let mut panels: Vec<(String, String, OptimizerKind)> = Vec::new();
        for series in results.series() {
            for &optimizer in &optimizers {
                let title = if optimizers.len() > 1 {
                    format!("{series}, {optimizer}")
                } else {
                    series.clone()
                };
                panels.push((series.clone(), title, optimizer));
            }
        }
        let row: Vec<(Axes, Vec<Line>)> = panels
            .iter()
            .map(|(series, title, optimizer)| {
                let lines = depths
                    .iter()
                    .map(|&depth| {
                        let at_point = |p: &&PointSummary| {
                            &p.series == series && p.depth == depth && p.budget == budget
                        };
                        let mut points: Vec<(f64, f64, f64, f64)> = results
                            .summary
                            .by_setting
                            .iter()
                            .filter(at_point)
                            .filter(|p| p.train_score.count > 0)
                            .filter_map(|p| {
                                let setting = results.setting_of(p)?;
                                (setting.optimizer == *optimizer).then(|| {
                                    let (y, low, high) = mean_std(p.train_score);
                                    (setting.learning_rate, y, low, high)
                                })
                            })
                            .collect();
                        points.sort_by(|a, b| a.0.total_cmp(&b.0));
                        let marks = results
                            .summary
                            .tuned
                            .iter()
                            .filter(at_point)
                            .filter_map(|t| {
                                let setting = results.setting_of(t)?;
                                (setting.optimizer == *optimizer)
                                    .then_some((setting.learning_rate, t.train_score.mean))
                            })
                            .collect();
                        Line {
                            marks,
                            ..Line::new(format!("L = {depth}"), self.depth_color(depth), points)
                        }
                    })
                    .collect();
                let axes = Axes {
                    title,
                    x: "learning rate (log scale)",
                    y: &y,
                    log_x: true,
                    log_y: false,
                    x_ticks: &ticks,
                };
                (axes, lines)
            })
            .collect();
        let ring = if optimizers.len() > 1 {
            "ring: the tuned setting, in its optimiser's panel"
        } else {
            "ring: the tuned rate"
        };
        let title = format!("Training {score} against learning rate, one curve per depth ({ring})");
        let file = self.file("accuracy_vs_lr");
        plot::panel_chart(&file, &self.canvas, &title, &[row])?;
        Ok(vec![file])
    }

    /// The tuned training score against depth (METHOD §9), each series
    /// beside its score at the fixed setting (dashed). None unless the
    /// study sweeps settings.
    fn tuned_accuracy_against_depth(&self) -> Result<Vec<PathBuf>, ReportError> {
        let results = self.results;
        if results.summary.tuned.is_empty() {
            return Ok(Vec::new());
        }
        let fixed = results
            .summary
            .points
            .first()
            .and_then(|p| p.setting.clone())
            .unwrap_or_default();
        let mut lines = Vec::new();
        for series in results.series() {
            let color = series_color(&series);
            let by_depth = |rows: &[PointSummary]| -> Vec<(f64, f64, f64, f64)> {
                rows.iter()
                    .filter(|p| p.series == series && p.budget == self.budget())
                    .filter(|p| p.train_score.count > 0)
                    .map(|p| {
                        let (y, low, high) = mean_std(p.train_score);
                        (p.depth as f64, y, low, high)
                    })
                    .collect()
            };
            lines.push(Line::new(
                format!("{series}, tuned"),
                color,
                by_depth(&results.summary.tuned),
            ));
            lines.push(Line {
                dashed: true,
                ..Line::new(
                    format!("at {fixed}"),
                    color,
                    by_depth(&results.summary.points),
                )
            });
        }
        let score = score_name(results);
        let title = format!("Tuned training {score} against depth (best setting per point)");
        let y = format!("training {score} (mean ± std)");
        let file = self.file("tuned_accuracy_vs_depth");
        plot::line_chart(&file, &self.canvas, &self.depth_axes(&title, &y), &lines)?;
        Ok(vec![file])
    }

    /// Median V3 and RV_out of the trained networks at the tracked steps
    /// (METHOD §9), one panel per series, one curve per depth; networks
    /// collapsed at initialisation are drawn apart, dashed. Each point's
    /// networks are shown at its tuned setting when the study sweeps
    /// settings. None unless the study tracks.
    fn variability_during_training(&self) -> Result<Vec<PathBuf>, ReportError> {
        let results = self.results;
        let steps = &results.config.train.track;
        let tracked_any = results
            .records
            .iter()
            .any(|r| r.training.as_ref().is_some_and(|t| !t.tracked.is_empty()));
        if steps.is_empty() || !tracked_any {
            return Ok(Vec::new());
        }
        // Step 0 sits at 1 on the log axis: positions are step + 1.
        let ticks: Vec<(f64, String)> = steps
            .iter()
            .map(|&s| ((s + 1) as f64, s.to_string()))
            .collect();
        let budget = self.budget();
        let shown = spread_of_depths(&results.config.depths, 5);
        let epsilon = results.config.epsilon;
        type Value = fn(&TrackedStep) -> f64;
        // (y label, value, whether to draw the collapse threshold)
        let measures: [(&str, Value, bool); 2] = [
            ("V3 (median, IQR; log scale)", |s| s.measures.v3, false),
            (
                "RV_out (median, IQR; log scale)",
                |s| s.measures.rv_out,
                true,
            ),
        ];
        let series = results.series();
        let rows: Vec<Vec<(Axes, Vec<Line>)>> = measures
            .iter()
            .map(|&(y, value, threshold)| {
                series
                    .iter()
                    .map(|series| {
                        let mut lines: Vec<Line> = shown
                            .iter()
                            .flat_map(|&depth| {
                                let color = self.depth_color(depth);
                                self.tracked_lines(series, depth, budget, steps, value, color)
                            })
                            .collect();
                        if threshold {
                            lines.push(Line {
                                dashed: true,
                                ..Line::new(
                                    "ε, the collapse threshold".into(),
                                    RGB_GREY,
                                    ticks
                                        .iter()
                                        .map(|t| (t.0, epsilon, epsilon, epsilon))
                                        .collect(),
                                )
                            });
                        }
                        let axes = Axes {
                            title: series,
                            x: "training step (log scale of 1 + step)",
                            y,
                            log_x: true,
                            log_y: true,
                            x_ticks: &ticks,
                        };
                        (axes, lines)
                    })
                    .collect()
            })
            .collect();
        let setting = if results.summary.tuned.is_empty() {
            String::new()
        } else {
            " at each point's tuned setting".to_string()
        };
        let title = format!(
            "Variability of the trained networks during training{setting} (dashed: collapsed at initialisation)"
        );
        let file = self.file("variability_during_training");
        plot::panel_chart(&file, &self.canvas, &title, &rows)?;
        Ok(vec![file])
    }

    /// A point's tracked `value` against step + 1: the median over its
    /// trained networks not collapsed at initialisation (with IQR), and
    /// dashed over those that were. A network whose training stopped early
    /// (diverged) counts at the steps it reached.
    fn tracked_lines(
        &self,
        series: &str,
        depth: usize,
        budget: usize,
        steps: &[usize],
        value: fn(&TrackedStep) -> f64,
        color: plot::RGBColor,
    ) -> Vec<Line> {
        let (collapsed, rest): (Vec<&RunRecord>, Vec<&RunRecord>) = self
            .results
            .tracked_networks(series, depth, budget)
            .into_iter()
            .partition(|r| r.network.measures.c2c);
        let median_by_step = |group: &[&RunRecord]| -> Vec<(f64, f64, f64, f64)> {
            steps
                .iter()
                .map(|&step| {
                    let at_step = group.iter().filter_map(|r| {
                        let tracked = &r.training.as_ref()?.tracked;
                        tracked.iter().find(|t| t.step == step).map(value)
                    });
                    let s = Summary::of(at_step);
                    ((step + 1) as f64, s.median, s.q25, s.q75)
                })
                .collect()
        };
        // The solid line names the depth in the legend, even when every
        // network there collapsed and it has no points.
        let mut lines = vec![Line::new(
            format!("L = {depth}"),
            color,
            if rest.is_empty() {
                Vec::new()
            } else {
                median_by_step(&rest)
            },
        )];
        if !collapsed.is_empty() {
            lines.push(Line {
                dashed: true,
                ..Line::new(
                    "collapsed at initialisation (median)".into(),
                    color,
                    median_by_step(&collapsed),
                )
            });
        }
        lines
    }

    /// A depth's colour in every per-depth figure: its rank among the
    /// study's depths on the sequential scale.
    fn depth_color(&self, depth: usize) -> plot::RGBColor {
        let mut depths = self.results.config.depths.clone();
        depths.sort_unstable();
        depths.dedup();
        let rank = depths.iter().position(|&d| d == depth).unwrap_or(0);
        plot::sequential_color(rank, depths.len())
    }

    /// The collapse profile beside the gradient profile.
    fn profiles(&self) -> Result<Vec<PathBuf>, ReportError> {
        let (rv_lines, grad_lines) = profiles(self.results, self.budget());
        let rv_axes = Axes {
            title: "RV_l: relative variation of layer l",
            x: "layer l",
            y: "RV_l (log scale)",
            log_x: false,
            log_y: true,
            x_ticks: &[],
        };
        let grad_axes = Axes {
            title: "gradient norm of layer l's weights",
            x: "weight layer l (last: output)",
            y: "‖∂loss/∂W_l‖ (log scale)",
            log_x: false,
            log_y: true,
            x_ticks: &[],
        };
        let file = self.file("collapse_profile");
        plot::twin_line_chart(
            &file,
            &self.canvas,
            "Collapse profile and gradient profile at initialisation (median over seeds)",
            (&rv_axes, &rv_lines),
            (&grad_axes, &grad_lines),
        )?;
        Ok(vec![file])
    }
}

/// Mean ± one standard deviation, as (y, band low, band high).
fn mean_std(s: Summary) -> (f64, f64, f64) {
    (s.mean, s.mean - s.std, s.mean + s.std)
}

const RGB_GREY: plotters::style::RGBColor = plotters::style::RGBColor(150, 150, 150);

fn format_rho(rho: f64) -> String {
    if rho.is_finite() {
        format!("{rho:.2}")
    } else {
        "n/a".into()
    }
}

/// Up to `count` depths spread over the sorted list: first, last, and between.
pub fn spread_of_depths(depths: &[usize], count: usize) -> Vec<usize> {
    let mut sorted = depths.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() <= count {
        return sorted;
    }
    let mut chosen: Vec<usize> = (0..count)
        .map(|k| sorted[k * (sorted.len() - 1) / (count - 1)])
        .collect();
    chosen.dedup();
    chosen
}

/// A few hundred training points for the trained maps on the square; none
/// for planes through the data, whose maps mark their own three points.
fn training_overlay(results: &StudyResults) -> Vec<(f32, f32, f32)> {
    let problem = results.config.train.problem_config();
    // Checked before any data are drawn or read: only two inputs lie on
    // the square.
    if problem.target().map_or(true, |t| !t.draws_on_square()) {
        return Vec::new();
    }
    let Ok(data) = problem.data(results.config.seed, results.config.grid, 1) else {
        return Vec::new();
    };
    let data = data.train;
    let step = (data.len() / 400).max(1);
    (0..data.len())
        .step_by(step)
        .map(|i| (data.points[2 * i], data.points[2 * i + 1], data.labels[i]))
        .collect()
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
                .filter(|r| {
                    results.series_of(r) == series
                        && r.network.depth == depth
                        && r.network.budget == budget
                })
                .collect();
            if records.is_empty() {
                continue;
            }
            let color = lighter(
                series_color(&series),
                0.55 * (shown.len() - 1 - rank) as f64 / shown.len().max(1) as f64,
            );
            let median_per_layer =
                |values: fn(&RunRecord) -> &Vec<f64>| -> Vec<(f64, f64, f64, f64)> {
                    let layers = values(records[0]).len();
                    (0..layers)
                        .map(|l| {
                            let s = Summary::of(records.iter().map(|r| values(r)[l]));
                            ((l + 1) as f64, s.median, s.q25, s.q75)
                        })
                        .collect()
                };
            let label = format!("{series} L={depth}");
            rv_lines.push(Line::new(
                label.clone(),
                color,
                median_per_layer(|r| &r.network.measures.rv_layers),
            ));
            grad_lines.push(Line::new(
                label,
                color,
                median_per_layer(|r| &r.network.measures.grad_norms),
            ));
            rv_lines.extend(predicted_profile(results, &series, depth, budget, color));
        }
    }
    (rv_lines, grad_lines)
}

/// Grid pairs the theory overlay averages over: enough for ~1% on RV.
const THEORY_PAIRS: usize = 400;

/// The infinite-width prediction of `RV_l` (METHOD §8) for a dense point,
/// as a dashed line (`None` for other layer types: the theory is METHOD's
/// dense family).
fn predicted_profile(
    results: &StudyResults,
    series: &str,
    depth: usize,
    budget: usize,
    color: plot::RGBColor,
) -> Option<Line> {
    let point = results.points.iter().find(|p| {
        results.config.series(p.activation.name(), p.layer.name()) == series
            && p.config.depth == depth
            && p.budget == budget
    })?;
    if point.layer.name() != "dense" {
        return None;
    }
    let theory = Theory::new(&point.activation, point.config.width);
    let (rv_layers, _) = theory.rv_profile(
        depth,
        results.config.grid,
        THEORY_PAIRS,
        results.config.seed,
    );
    let points = rv_layers
        .iter()
        .enumerate()
        .map(|(l, &rv)| ((l + 1) as f64, rv, rv, rv))
        .collect();
    Some(Line {
        dashed: true,
        ..Line::new("infinite-width theory".into(), color, points)
    })
}

/// What the study's training score is: "accuracy", or "R²" for a
/// regression target.
fn score_name(results: &StudyResults) -> &'static str {
    results.config.train.problem_config().score_name()
}

/// The summary table and the correlations as Markdown.
pub fn summary_markdown(results: &StudyResults, caption: &str) -> String {
    let mut md = format!("# Study '{}'\n\n", results.config.name);
    if let Some(incomplete) = results.incomplete() {
        let _ = writeln!(md, "> **Incomplete:** {incomplete}.\n");
    }
    let _ = write!(md, "{caption}\n\n## Per point\n\n");
    let score = score_name(results);
    let _ = writeln!(md, "| activation | layer | depth | budget | width | params | AR | AC | V3 median [IQR] | C2C | train {score} | test {score} | trapped | diverged |");
    md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for p in &results.summary.points {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.3} | {:.1} | {:.5} [{:.5}, {:.5}] | {:.2} | {:.3} ± {:.3} | {:.3} ± {:.3} | {} | {} |",
            p.activation, p.layer, p.depth, p.budget, p.width, p.params, p.activation_ratio.mean, p.activation_count.mean,
            p.v3.median, p.v3.q25, p.v3.q75, p.c2c_frequency, p.train_score.mean, p.train_score.std, p.test_score.mean,
            p.test_score.std, p.trapped, p.diverged
        );
    }
    md += &tuning_markdown(results, score);
    md += &tracking_markdown(results, score);
    let _ = write!(
        md,
        "\n## Each measure and proxy at initialisation against mean training {score}\n\n"
    );
    md += "Spearman's ρ with its permutation p-value and bootstrap 95% interval over points, and Kendall's τ_b; ";
    md += "`points` counts the points where the measure is finite.\n\n";
    md += "| scope | measure | points | ρ | p (permutation) | ρ 95% interval | τ |\n|---|---|---:|---:|---:|---:|---:|\n";
    for c in &results.summary.correlations {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | [{}, {}] | {} |",
            c.scope,
            c.measure,
            c.points,
            format_rho(c.spearman),
            format_rho(c.p_value),
            format_rho(c.spearman_low),
            format_rho(c.spearman_high),
            format_rho(c.kendall)
        );
    }
    md
}

/// The section on training settings (METHOD §9), when the study sweeps
/// them: each point's mean training score at every setting, and its tuned
/// score with the setting that reached it and the test score there.
fn tuning_markdown(results: &StudyResults, score: &str) -> String {
    let summary = &results.summary;
    if summary.tuned.is_empty() {
        return String::new();
    }
    let mut settings: Vec<String> = Vec::new();
    for p in &summary.by_setting {
        let label = p.setting.clone().unwrap_or_default();
        if !settings.contains(&label) {
            settings.push(label);
        }
    }
    let mut md = format!("\n## Trainability under tuning (METHOD §9)\n\nMean training {score} at every setting (each trains the same networks), and the tuned score: the best of those means, with the setting that reached it and the test {score} at that setting. The setting is chosen on training {score}, not test: the question is trainability, not generalisation. The table above and the correlations without `/tuned` are at the fixed setting.\n\n");
    let _ = writeln!(
        md,
        "| activation | layer | depth | {} | tuned train {score} | tuned at | test {score} there |",
        settings.join(" | ")
    );
    let _ = writeln!(
        md,
        "|---|---|---:|{}---:|---|---:|",
        "---:|".repeat(settings.len())
    );
    for tuned in &summary.tuned {
        let same_point = |p: &&PointSummary| p.point() == tuned.point();
        // One cell per setting, empty where an unfinished study lacks it.
        let by_setting: Vec<String> = settings
            .iter()
            .map(|label| {
                summary
                    .by_setting
                    .iter()
                    .filter(same_point)
                    .find(|p| p.setting.as_deref() == Some(label.as_str()))
                    .map_or("–".to_string(), |p| format!("{:.3}", p.train_score.mean))
            })
            .collect();
        let at = tuned
            .setting
            .as_deref()
            .unwrap_or("")
            .trim_start_matches("tuned: ");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.3} | {at} | {:.3} |",
            tuned.activation,
            tuned.layer,
            tuned.depth,
            by_setting.join(" | "),
            tuned.train_score.mean,
            tuned.test_score.mean
        );
    }
    md
}

/// The section on tracking (METHOD §9), when the study tracks: per point,
/// how many trained networks were collapsed at initialisation, how many
/// left collapse and at which tracked steps.
fn tracking_markdown(results: &StudyResults, score: &str) -> String {
    let rows: Vec<(&PointSummary, Vec<&RunRecord>)> = results
        .summary
        .points
        .iter()
        .map(|p| (p, results.tracked_networks(&p.series, p.depth, p.budget)))
        .filter(|(_, tracked)| !tracked.is_empty())
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let at = if results.summary.tuned.is_empty() {
        "the study's setting"
    } else {
        "each point's tuned setting"
    };
    // An escape is only seen from step 0 (METHOD §9).
    let from_zero = results.config.train.track.first() == Some(&0);
    let mut md = format!("\n## Leaving collapse during training (METHOD §9)\n\nThe trained networks at {at}, measured at the tracked steps. A network collapsed at initialisation (`RV_out < ε`) escapes at the first tracked step where its `RV_out ≥ ε`; `escape steps` lists them, `never` for one that did not. The training {score} of a diverged network counts as chance.\n\n");
    let _ = writeln!(
        md,
        "| activation | layer | depth | budget | tracked | collapsed at initialisation | escaped | escape steps | train {score} of the collapsed |"
    );
    md += "|---|---|---:|---:|---:|---:|---:|---|---:|\n";
    let dash = || "–".to_string();
    for (p, tracked) in rows {
        let collapsed: Vec<&TrainedNetwork> = tracked
            .iter()
            .filter(|r| r.network.measures.c2c)
            .filter_map(|r| r.training.as_ref())
            .collect();
        let escaped = collapsed.iter().filter(|t| t.escape_step.is_some()).count();
        let steps: Vec<String> = collapsed
            .iter()
            .map(|t| t.escape_step.map_or("never".to_string(), |s| s.to_string()))
            .collect();
        let steps = match (from_zero, steps.is_empty()) {
            (false, _) => "step 0 not tracked".to_string(),
            (true, true) => dash(),
            (true, false) => steps.join(", "),
        };
        let score_of_collapsed =
            Summary::of(collapsed.iter().map(|t| t.counted(t.train_score))).mean;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {steps} | {} |",
            p.activation,
            p.layer,
            p.depth,
            p.budget,
            tracked.len(),
            collapsed.len(),
            if from_zero {
                escaped.to_string()
            } else {
                dash()
            },
            if collapsed.is_empty() {
                dash()
            } else {
                format!("{score_of_collapsed:.3}")
            },
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_depths_keeps_the_ends() {
        assert_eq!(
            spread_of_depths(&[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], 5),
            vec![1, 3, 8, 24, 64]
        );
        assert_eq!(spread_of_depths(&[8, 1, 4], 5), vec![1, 4, 8]);
    }
}
