//! Checked plans and how each runs on the chosen backend.

use std::path::PathBuf;

use super::error::CliError;
use super::table::{print_study_summary, TableRow};
use crate::bench::{
    bench_planes, bench_scaling, bench_shapes, matmul_gflops, scaling_table, time_study,
    BenchReport, BenchSettings, CpuReport, ScalingReport,
};
use crate::json::JsonLines;
use crate::nn::{ActivationSpec, BackendJob, BackendKind, ComputeBackend, LayerSpec};
use crate::study::interrupt::Kept;
use crate::study::records::SettingKey;
use crate::study::{run_study, Progress, ProgressMode, ResultsDir, RunRecord, StudyPlan, Sweep};
use crate::theory::{Prediction, Theory};

/// A checked `measure` or `train` run with its output.
pub struct SweepPlan {
    /// The checked sweep.
    pub sweep: Sweep,
    /// Worker threads.
    pub threads: usize,
    /// Whether and how progress is shown.
    pub progress: ProgressMode,
    /// Where one JSON record per network is appended (`--out`), if anywhere.
    pub out: Option<JsonLines>,
}

impl BackendJob for SweepPlan {
    type Output = Result<(), CliError>;

    /// Runs every network, appending records as chunks finish, and prints
    /// one table row per point once all its networks are in.
    fn run<B: ComputeBackend>(mut self, device: &B::Device) -> Self::Output {
        let sweep = &self.sweep;
        let train = sweep.train.is_some();
        let networks = sweep.records_per_point();
        let settings = sweep.settings();
        let tasks = sweep.tasks::<B>(&[]);
        let (total, cost) = tasks.size();
        let mut per_point: Vec<Vec<RunRecord>> = vec![Vec::new(); sweep.points.len()];
        let mut next_row = 0;
        let mut progress = Progress::new(
            if train { "train" } else { "measure" },
            total,
            cost,
            self.progress,
        );
        progress.announce(sweep.estimated_seconds(cost, self.threads));
        println!(
            "{}",
            TableRow::header(train, short_score_name(&sweep.problem))
        );
        let out = &mut self.out;
        let kept = out.as_ref().map(|out| Kept::start(out.path(), 0, false));
        sweep.run::<B, CliError>(tasks.iter(), self.threads, device, |output| {
            if let (Some(out), Some(kept)) = (out.as_mut(), kept.as_ref()) {
                kept.write(output.records.len(), || {
                    output.records.iter().try_for_each(|record| {
                        out.write(record)
                            .map_err(CliError::io(format!("writing {}", out.path().display())))
                    })
                })?;
            }
            progress.advance(output.records.len(), sweep.task_cost(&output.task));
            per_point[output.task.point].extend(output.records);
            while next_row < per_point.len() && per_point[next_row].len() == networks {
                // A row per setting, in seed order.
                per_point[next_row].sort_by_key(|r| (r.key().setting, r.network.seed));
                for rows in per_point[next_row].chunk_by(|a, b| a.key().setting == b.key().setting)
                {
                    let own = rows[0].key().setting;
                    let setting = settings.iter().find(|&&s| Some(SettingKey::from(s)) == own);
                    let label = match setting {
                        Some(setting) if settings.len() > 1 => format!("  {setting}"),
                        _ => String::new(),
                    };
                    progress.println(&format!("{}{label}", TableRow::of(rows)));
                }
                // A printed row's records are no longer needed.
                per_point[next_row] = Vec::new();
                next_row += 1;
            }
            Ok(())
        })?;
        progress.finish();
        Ok(())
    }
}

/// A checked study run.
pub struct StudyRunPlan {
    /// The checked study.
    pub study: StudyPlan,
    /// The results directory (a shard's own, with `--shard`).
    pub dir: PathBuf,
    /// Discard earlier results in `dir` and start over.
    pub fresh: bool,
    /// Worker threads.
    pub threads: usize,
    /// Whether and how progress is shown.
    pub progress: ProgressMode,
}

impl BackendJob for StudyRunPlan {
    type Output = Result<(), CliError>;

    fn run<B: ComputeBackend>(self, device: &B::Device) -> Self::Output {
        let started = std::time::Instant::now();
        let dir = ResultsDir::prepare(&self.dir, &self.study, self.fresh)?;
        let summary = run_study::<B>(&self.study, &dir, self.threads, self.progress, device)?;
        print_study_summary(&summary, short_score_name(&self.study.sweep.problem));
        println!(
            "results in {} ({:.0} s)",
            self.dir.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// A checked benchmark.
pub struct BenchPlan {
    /// The backend benchmarked.
    pub backend: BackendKind,
    /// How much work each measurement does.
    pub settings: BenchSettings,
    /// Activation of the benchmarked networks.
    pub activation: ActivationSpec,
    /// Layer type of the benchmarked networks.
    pub layer: LayerSpec,
    /// The study whose wall time is measured, with its file name; `None`
    /// skips it.
    pub study: Option<(String, StudyPlan)>,
    /// Whether to time budgets and grids (`--scaling`) instead of the shapes.
    pub scaling: bool,
    /// Where the report goes as JSON.
    pub out: PathBuf,
}

impl BackendJob for BenchPlan {
    type Output = Result<(), CliError>;

    fn run<B: ComputeBackend>(self, device: &B::Device) -> Self::Output {
        let threads = self.settings.threads;
        let matmul = matmul_gflops::<B::InnerBackend>(device);
        // The CPU's vector path says nothing about a GPU's arithmetic.
        let cpu = self.backend.on_cpu().then(CpuReport::detect);
        if self.scaling {
            let rows = bench_scaling::<B>(&self.activation, &self.layer, self.backend, device);
            println!(
                "backend {} · matrix product {matmul:.1} GFLOP/s on one thread",
                self.backend
            );
            if let Some(cpu) = &cpu {
                println!("{}", cpu.line(matmul));
            }
            println!();
            print!("{}", scaling_table(&rows, matmul));
            let report = ScalingReport {
                version: crate::VERSION.to_string(),
                backend: self.backend,
                cpu,
                matmul_gflops_one_thread: matmul,
                rows,
            };
            write_json(&self.out, &report)?;
            println!("figures in {}", self.out.display());
            return Ok(());
        }
        let shapes = bench_shapes::<B>(
            &self.settings,
            &self.activation,
            &self.layer,
            self.backend,
            device,
        );
        let planes = bench_planes::<B>(
            &self.settings,
            &self.activation,
            &self.layer,
            self.backend,
            device,
        );
        let study = self
            .study
            .as_ref()
            .map(|(file, plan)| time_study::<B>(file, plan, threads, device))
            .transpose()?;
        let report = BenchReport {
            version: crate::VERSION.to_string(),
            backend: self.backend,
            settings: self.settings,
            cpu,
            matmul_gflops_one_thread: matmul,
            // The backend runs each network on one thread; workers run side by side.
            estimated_peak_gflops: matmul * threads as f64,
            shapes,
            study,
            planes,
        };
        print!("{}", report.table());
        write_json(&self.out, &report)?;
        println!("figures in {}", self.out.display());
        Ok(())
    }
}

/// Predicts every (activation, depth) point, prints a table, writes JSON.
/// A checked `theory` run: the (activation, depth, width) networks and the
/// grid pairs their RV profile averages over.
pub struct TheoryPlan {
    /// `(activation, depth, width)` of each network predicted.
    pub networks: Vec<(ActivationSpec, usize, usize)>,
    /// Landscape grid points per side `G`.
    pub grid: usize,
    /// Grid pairs sampled for the RV profile.
    pub pairs: usize,
    /// Seed of the pair sample.
    pub seed: u64,
    /// Where the predictions go as JSON.
    pub out: PathBuf,
}

/// Prints and writes the mean-field predictions of a [`TheoryPlan`].
pub fn theory(plan: &TheoryPlan) -> Result<(), CliError> {
    let predictions: Vec<Prediction> = plan
        .networks
        .iter()
        .map(|(activation, depth, width)| {
            Theory::new(activation, *width).predict(*depth, plan.grid, plan.pairs, plan.seed)
        })
        .collect();
    println!(
        "{:<18} {:>5} {:>5} {:>8} {:>8} {:>8} {:>8} {:>9}  predicted RV_l, l = 1..L",
        "activation", "depth", "width", "q*", "c*", "χ_c", "ξ", "RV_out"
    );
    for p in &predictions {
        let layers: Vec<String> = p.rv_layers.iter().map(|rv| format!("{rv:.3}")).collect();
        let number = |x: Option<f64>, none: &str| x.map_or(none.to_string(), |x| format!("{x:.4}"));
        let scale = p.depth_scale.map_or("∞".to_string(), |x| format!("{x:.1}"));
        println!(
            "{:<18} {:>5} {:>5} {:>8} {:>8} {:>8} {:>8} {:>9.4}  {}",
            p.activation,
            p.depth,
            p.width,
            number(p.q_star, "diverges"),
            number(p.c_star, "-"),
            number(p.chi_c, "-"),
            scale,
            p.rv_out,
            layers.join(" ")
        );
    }
    write_json(&plan.out, &predictions)?;
    println!("predictions in {}", plan.out.display());
    Ok(())
}

/// Writes `value` as pretty JSON to `path`, creating its folder.
pub(crate) fn write_json(
    path: &std::path::Path,
    value: &impl serde::Serialize,
) -> Result<(), CliError> {
    let io = || CliError::io(format!("writing {}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io())?;
    }
    std::fs::write(
        path,
        serde_json::to_string_pretty(value).expect("serialises"),
    )
    .map_err(io())
}

/// The training score's name in the tables: "acc", or "R²".
fn short_score_name(problem: &crate::problem::ProblemConfig) -> &'static str {
    if problem.is_regression() {
        "R²"
    } else {
        "acc"
    }
}
