//! `variability bench`: how fast this machine and backend measure and train
//! the study's networks, on fixed shapes, against an estimate of the
//! machine's arithmetic peak, and the wall time of a small study.
//!
//! Speed is reported, never asserted: a benchmark prints numbers.

use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::measure::MeasureConfig;
use crate::nn::{ActivationSpec, BackendKind, ComputeBackend, Init, LayerSpec, MlpConfig};
use crate::problem::{ProblemConfig, RunDataError};
use crate::study::{run_study, Point, ProgressMode, ResultsDir, StudyError, StudyPlan, Sweep};
use crate::train::TrainConfig;

/// The fixed shapes: the paper's budget at three depths.
pub const SHAPES: [(&str, usize); 3] = [("wide-shallow", 1), ("medium", 8), ("deep-narrow", 32)];
/// The parameter budget of every fixed shape: the paper's, the default.
pub const BUDGET: usize = crate::study::config::DEFAULT_BUDGET;

/// How much work each measurement does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchSettings {
    /// Networks measured per shape.
    pub measure_networks: usize,
    /// Networks trained per shape (as ensembles, as a study would).
    pub train_networks: usize,
    /// Adam steps per trained network (full batch of 2000 points).
    pub train_steps: usize,
    /// Worker threads.
    pub threads: usize,
}

/// Speed on one shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShapeBench {
    /// The shape's name (see [`SHAPES`]).
    pub name: String,
    /// Number of hidden layers.
    pub depth: usize,
    /// Units per hidden layer, from the budget (METHOD §1).
    pub width: usize,
    /// Actual parameter count.
    pub params: usize,
    /// Wall time of measuring the networks, in seconds.
    pub measure_seconds: f64,
    /// Networks measured per second.
    pub networks_per_second: f64,
    /// Arithmetic rate of measuring, in GFLOP/s.
    pub measure_gflops: f64,
    /// Wall time of training the networks, in seconds.
    pub train_seconds: f64,
    /// Adam steps per second, summed over the networks trained together.
    pub steps_per_second: f64,
    /// Arithmetic rate of training, in GFLOP/s.
    pub train_gflops: f64,
    /// The same work one network at a time (ensembles of one), to show
    /// where ensembles pay.
    pub networks_per_second_one_at_a_time: f64,
    /// Adam steps per second, one network at a time.
    pub steps_per_second_one_at_a_time: f64,
}

/// Everything `bench` prints, as written to JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// The crate version that ran the benchmark.
    pub version: String,
    /// The backend benchmarked.
    pub backend: BackendKind,
    /// How much work each measurement did.
    pub settings: BenchSettings,
    /// The CPU's vector instructions and theoretical rate (absent on a GPU
    /// backend, and in reports written before they were recorded).
    #[serde(default)]
    pub cpu: Option<CpuReport>,
    /// A 1024³ matrix product on this backend, one thread: GFLOP/s.
    pub matmul_gflops_one_thread: f64,
    /// The peak estimate: the matrix product's rate times the threads used.
    pub estimated_peak_gflops: f64,
    /// Speed on each fixed shape, in the order of [`SHAPES`].
    pub shapes: Vec<ShapeBench>,
    /// Wall time of a study (`experiments/quick.toml` by default) with the
    /// chosen threads and with one.
    pub study: Option<StudyBench>,
    /// Measuring on planes through the digits against the square, at one
    /// shape; `None` when the data set could not be read.
    #[serde(default)]
    pub planes: Option<PlanesBench>,
}

/// The CPU's vector path and its theoretical arithmetic rate, beside the
/// measured matrix product: how far from the hardware "peak" is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CpuReport {
    /// The widest copy of this crate's loops (and of `gemm`'s kernels) the
    /// CPU runs: `AVX-512`, `AVX2+FMA` or `baseline (SSE2)`.
    pub vector_path: String,
    /// `f32` FLOP per cycle and core on that path: lanes × 2 (a fused
    /// multiply-add) × 2 (two FMA ports, as on most server cores; some
    /// have one).
    pub flops_per_cycle: f64,
    /// The clock the kernel reports (`/proc/cpuinfo`), in GHz; `None` where
    /// it is not readable.
    pub clock_ghz: Option<f64>,
}

impl CpuReport {
    /// What this CPU has.
    pub fn detect() -> CpuReport {
        let level = crate::nn::SimdLevel::detected();
        let clock_ghz = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("cpu MHz"))
                    .and_then(|line| line.split(':').nth(1))
                    .and_then(|mhz| mhz.trim().parse::<f64>().ok())
                    .map(|mhz| mhz / 1000.0)
            });
        CpuReport {
            vector_path: level.name().to_string(),
            flops_per_cycle: (level.lanes() * 2 * 2) as f64,
            clock_ghz,
        }
    }

    /// One core's theoretical GFLOP/s, where the clock is known.
    pub fn theoretical_gflops(&self) -> Option<f64> {
        self.clock_ghz.map(|ghz| ghz * self.flops_per_cycle)
    }

    /// The line the bench prints under the measured product: the vector
    /// path and the theoretical rate of one core, with the product's share.
    pub fn line(&self, matmul_gflops: f64) -> String {
        let theory = match self.theoretical_gflops() {
            Some(gflops) => format!(
                "theoretical {:.0} FLOP/cycle × {:.2} GHz = {gflops:.1} GFLOP/s per core, the product at {:.0}% of it",
                self.flops_per_cycle,
                self.clock_ghz.unwrap_or_default(),
                100.0 * matmul_gflops / gflops
            ),
            None => format!("theoretical {:.0} FLOP/cycle per core (clock unknown)", self.flops_per_cycle),
        };
        format!("{} kernels · {theory}", self.vector_path)
    }
}

/// What `bench --scaling` writes as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScalingReport {
    /// The crate version that ran the benchmark.
    pub version: String,
    /// The backend benchmarked.
    pub backend: BackendKind,
    /// The CPU's vector path and theoretical rate (CPU backends only).
    pub cpu: Option<CpuReport>,
    /// A 1024³ matrix product on this backend, one thread: GFLOP/s.
    pub matmul_gflops_one_thread: f64,
    /// Every budget and grid, measured and trained.
    pub rows: Vec<ScalingRow>,
}

/// Measuring a network on planes through real data (METHOD §10) against
/// measuring one of the same depth and width on the square: the planes
/// multiply the landscape's points, the 64 inputs and 10 logits the work
/// per point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanesBench {
    /// Number of hidden layers.
    pub depth: usize,
    /// Units per hidden layer, the same for both.
    pub width: usize,
    /// Planes the digits networks are measured on.
    pub planes: usize,
    /// Wall time of measuring the networks on the square, in seconds.
    pub square_seconds: f64,
    /// Wall time of measuring the digits networks, in seconds.
    pub digits_seconds: f64,
}

/// Times [`BenchSettings::measure_networks`] networks of the `medium`
/// shape measured on the square, then the same depth and width with 64
/// inputs and 10 logits measured on the digits' planes. `None` when the
/// digits cannot be read (the reason goes to standard error).
pub fn bench_planes<B: ComputeBackend>(
    settings: &BenchSettings,
    activation: &ActivationSpec,
    layer: &LayerSpec,
    backend: BackendKind,
    device: &B::Device,
) -> Option<PlanesBench> {
    let depth = SHAPES[1].1;
    let square = MlpConfig::for_budget(
        BUDGET,
        depth,
        activation.name(),
        layer,
        crate::nn::PLANE_DIMS,
    )?;
    let measure = MeasureConfig::new();
    let time = |problem: ProblemConfig, config: MlpConfig| -> Result<f64, RunDataError> {
        let point = Point {
            activation: activation.clone(),
            layer: layer.clone(),
            budget: config.params(layer),
            config,
        };
        let networks = settings.measure_networks;
        let sweep = one_point_sweep(point, &problem, measure.clone(), None, networks, backend)?;
        Ok(time_sweep::<B>(&sweep, settings.threads, None, device))
    };
    let digits = square.clone().with_input_dim(64).with_output_dim(10);
    let timed = time(ProblemConfig::new(), square.clone()).and_then(|square_seconds| {
        let problem = ProblemConfig::new().with_problem("digits".into());
        Ok((square_seconds, time(problem, digits)?))
    });
    match timed {
        Ok((square_seconds, digits_seconds)) => Some(PlanesBench {
            depth,
            width: square.width,
            planes: measure.planes,
            square_seconds,
            digits_seconds,
        }),
        Err(reason) => {
            eprintln!("bench: the digits row is skipped: {reason}");
            None
        }
    }
}

/// `bench --scaling`: the budgets, grids and depth swept.
pub const SCALING_BUDGETS: [usize; 3] = [2_000, 20_000, 200_000];
/// Grid points per side of the landscape in `bench --scaling`.
pub const SCALING_GRIDS: [usize; 3] = [51, 101, 201];
/// Hidden layers of every `bench --scaling` network: the medium shape's.
pub const SCALING_DEPTH: usize = SHAPES[1].1;
/// Floating-point operations each `bench --scaling` row aims at, so that
/// the small rows repeat enough to be timed and the large ones finish.
const SCALING_WORK: f64 = 4e10;

/// Measuring or training one shape on one worker thread in `bench
/// --scaling`, beside what the shards' cost model predicts for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScalingRow {
    /// `measure` or `train`.
    pub work: String,
    /// The parameter budget.
    pub budget: usize,
    /// Landscape grid points per side.
    pub grid: usize,
    /// Units per hidden layer, from the budget.
    pub width: usize,
    /// Actual parameter count.
    pub params: usize,
    /// Networks run.
    pub networks: usize,
    /// Adam steps per network (training rows; 0 when measuring).
    pub steps: usize,
    /// Thread-seconds per network.
    pub seconds: f64,
    /// The arithmetic of the network's matrix products, in GFLOP/s.
    pub gflops: f64,
    /// [`Sweep::network_cost`]: the thread-seconds the shards and the
    /// progress bar expect.
    pub model_seconds: f64,
}

/// Measures (proxies on) every budget at every grid, and trains every
/// budget, one worker thread at a time, so that seconds are
/// thread-seconds: what a study's time is the sum of.
pub fn bench_scaling<B: ComputeBackend>(
    activation: &ActivationSpec,
    layer: &LayerSpec,
    backend: BackendKind,
    device: &B::Device,
) -> Vec<ScalingRow> {
    let problem = ProblemConfig::new();
    let points = Point::product(
        &SCALING_BUDGETS,
        std::slice::from_ref(layer),
        std::slice::from_ref(activation),
        &[SCALING_DEPTH],
        Init::default(),
        crate::nn::PLANE_DIMS,
    )
    .expect("every scaling budget fits the scaling depth");
    let mut rows = Vec::new();
    for point in points {
        let params = point.params();
        let row = |work: &str,
                   grid: usize,
                   networks: usize,
                   steps: usize,
                   seconds: f64,
                   flops: f64,
                   model_seconds: f64| {
            ScalingRow {
                work: work.to_string(),
                budget: point.budget,
                grid,
                width: point.config.width,
                params,
                networks,
                steps,
                seconds: seconds / networks as f64,
                gflops: networks as f64 * flops / seconds / 1e9,
                model_seconds,
            }
        };
        for grid in SCALING_GRIDS {
            let measure = MeasureConfig::new().with_grid(grid);
            let flops =
                forward_flops(params, grid * grid) + train_step_flops(params, problem.train_size);
            let networks = ((SCALING_WORK / flops) as usize).clamp(2, 50);
            let sweep = one_point_sweep(point.clone(), &problem, measure, None, networks, backend)
                .expect("the model problem's sets are drawn, never read");
            let seconds = time_sweep::<B>(&sweep, 1, None, device);
            let model = sweep.network_cost(0, false);
            rows.push(row("measure", grid, networks, 0, seconds, flops, model));
        }
        // Training: the networks measured on a 4×4 grid without the proxies,
        // so that the measuring around the training is small.
        let step_flops = train_step_flops(params, problem.train_size);
        let steps = ((SCALING_WORK / step_flops) as usize).clamp(20, 100);
        let train = TrainConfig::new().with_steps(steps).with_log_every(steps);
        let networks = 2;
        let trained = one_point_sweep(
            point.clone(),
            &problem.clone().with_test_size(1000),
            MeasureConfig::new().with_grid(4).with_proxies(false),
            Some(train),
            networks,
            backend,
        )
        .expect("the model problem's sets are drawn, never read");
        let seconds = time_sweep::<B>(&trained, 1, None, device);
        let flops = steps as f64 * step_flops;
        // The model's training alone: its trained cost less its measuring.
        let model = trained.network_cost(0, true) - trained.network_cost(0, false);
        rows.push(row("train", 4, networks, steps, seconds, flops, model));
    }
    rows
}

/// The rows of `bench --scaling` as the table it prints.
pub fn scaling_table(rows: &[ScalingRow], peak_gflops_one_thread: f64) -> String {
    let mut text = format!(
        "{:<8} {:>7} {:>4} {:>5} {:>7} {:>5}  {:>10} {:>8} {:>7}  {:>10} {:>6}\n",
        "work",
        "budget",
        "grid",
        "width",
        "params",
        "steps",
        "s/network",
        "GFLOP/s",
        "% peak",
        "model s",
        "model/measured"
    );
    for r in rows {
        text += &format!(
            "{:<8} {:>7} {:>4} {:>5} {:>7} {:>5}  {:>10.4} {:>8.2} {:>6.1}%  {:>10.4} {:>6.2}\n",
            r.work,
            r.budget,
            r.grid,
            r.width,
            r.params,
            r.steps,
            r.seconds,
            r.gflops,
            100.0 * r.gflops / peak_gflops_one_thread,
            r.model_seconds,
            r.model_seconds / r.seconds
        );
    }
    text += &format!(
        "\n(one worker thread, so seconds are thread-seconds; depth {SCALING_DEPTH}; measuring with the gradient profile and the proxies on the G×G grid and the 2000 training points; training: full-batch Adam on 2000 points, 2 networks, measured on a 4×4 grid without the proxies; the model counts the training alone; % of the one-thread matrix product's {peak_gflops_one_thread:.1} GFLOP/s; \"model s\" is what the shards' cost model predicts)\n"
    );
    text
}

/// Wall time of a small study, with the chosen threads and with one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StudyBench {
    /// The study file run.
    pub file: String,
    /// Wall time with the chosen threads, in seconds.
    pub seconds: f64,
    /// Wall time with one thread, in seconds.
    pub seconds_one_thread: f64,
}

/// Floating-point operations of one forward pass of one network over
/// `points` inputs: a multiply and an add per weight and point.
pub fn forward_flops(params: usize, points: usize) -> f64 {
    2.0 * params as f64 * points as f64
}

/// One training step is a forward and a backward pass; the backward pass
/// costs about twice the forward (gradients for inputs and for weights).
pub fn train_step_flops(params: usize, points: usize) -> f64 {
    3.0 * forward_flops(params, points)
}

/// GFLOP/s of the backend's matrix product (best of three 1024³ products).
pub fn matmul_gflops<B: Backend>(device: &B::Device) -> f64 {
    let n = 1024;
    let a = Tensor::<B, 2>::random([n, n], Distribution::Default, device);
    let b = Tensor::<B, 2>::random([n, n], Distribution::Default, device);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        let product = a.clone().matmul(b.clone());
        let _ = product.into_data();
        best = best.min(started.elapsed().as_secs_f64());
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// Measures and trains each fixed shape.
pub fn bench_shapes<B: ComputeBackend>(
    settings: &BenchSettings,
    activation: &ActivationSpec,
    layer: &LayerSpec,
    backend: BackendKind,
    device: &B::Device,
) -> Vec<ShapeBench> {
    let depths: Vec<usize> = SHAPES.iter().map(|(_, depth)| *depth).collect();
    let points = Point::product(
        &[BUDGET],
        std::slice::from_ref(layer),
        std::slice::from_ref(activation),
        &depths,
        Init::default(),
        crate::nn::PLANE_DIMS,
    )
    .expect("the bench budget fits every bench depth");
    SHAPES
        .iter()
        .zip(points)
        .map(|(&(name, _), point)| bench_shape::<B>(name, point, settings, backend, device))
        .collect()
}

/// Measures, then trains, networks of one shape, as ensembles and one at a time.
fn bench_shape<B: ComputeBackend>(
    name: &str,
    point: Point,
    settings: &BenchSettings,
    backend: BackendKind,
    device: &B::Device,
) -> ShapeBench {
    let (depth, width) = (point.config.depth, point.config.width);
    let params = point.params();
    let problem = ProblemConfig::new();
    let sweep_of = |problem: &ProblemConfig,
                    measure: MeasureConfig,
                    train: Option<TrainConfig>,
                    networks: usize| {
        one_point_sweep(point.clone(), problem, measure, train, networks, backend)
            .expect("the model problem's sets are drawn, never read")
    };

    // Measuring: the study's grid and gradient profile.
    let measure = MeasureConfig::new();
    let sweep = sweep_of(&problem, measure.clone(), None, settings.measure_networks);
    let measure_seconds = time_sweep::<B>(&sweep, settings.threads, None, device);
    let measure_seconds_one = time_sweep::<B>(&sweep, settings.threads, Some(1), device);
    let measure_flops =
        forward_flops(params, measure.grid.pow(2)) + train_step_flops(params, problem.train_size);

    // Training: a 4×4 grid keeps the measuring around it negligible.
    let train = TrainConfig::new()
        .with_steps(settings.train_steps)
        .with_log_every(settings.train_steps);
    let sweep = sweep_of(
        &problem.clone().with_test_size(1000),
        measure.with_grid(4),
        Some(train),
        settings.train_networks,
    );
    let train_seconds = time_sweep::<B>(&sweep, settings.threads, None, device);
    let train_seconds_one = time_sweep::<B>(&sweep, settings.threads, Some(1), device);
    let steps = (settings.train_networks * settings.train_steps) as f64;

    ShapeBench {
        name: name.to_string(),
        depth,
        width,
        params,
        measure_seconds,
        networks_per_second: settings.measure_networks as f64 / measure_seconds,
        measure_gflops: settings.measure_networks as f64 * measure_flops / measure_seconds / 1e9,
        train_seconds,
        steps_per_second: steps / train_seconds,
        train_gflops: steps * train_step_flops(params, problem.train_size) / train_seconds / 1e9,
        networks_per_second_one_at_a_time: settings.measure_networks as f64 / measure_seconds_one,
        steps_per_second_one_at_a_time: steps / train_seconds_one,
    }
}

/// The sweep of `networks` networks of one point on `problem` (run seed
/// 0), trained when `train` is given: what the bench times.
fn one_point_sweep(
    point: Point,
    problem: &ProblemConfig,
    measure: MeasureConfig,
    train: Option<TrainConfig>,
    networks: usize,
    backend: BackendKind,
) -> Result<Sweep, RunDataError> {
    let data = problem.data(0, measure.grid, measure.planes)?;
    Ok(Sweep {
        points: vec![point],
        data: std::sync::Arc::new(data),
        measure,
        problem: problem.clone(),
        train_seeds: if train.is_some() { networks } else { 0 },
        train,
        measure_seeds: networks,
        run_seed: 0,
        backend,
        shard: None,
    })
}

/// Wall time of a study run from scratch in a temporary directory, with
/// `threads` workers and with one.
pub fn time_study<B: ComputeBackend>(
    file: &str,
    plan: &StudyPlan,
    threads: usize,
    device: &B::Device,
) -> Result<StudyBench, StudyError> {
    let mut seconds = Vec::new();
    for threads in [threads, 1] {
        let dir = std::env::temp_dir().join(format!("variability-bench-{}", std::process::id()));
        let results = ResultsDir::prepare(&dir, plan, true)?;
        let started = Instant::now();
        run_study::<B>(plan, &results, threads, ProgressMode::Quiet, device)?;
        seconds.push(started.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(StudyBench {
        file: file.to_string(),
        seconds: seconds[0],
        seconds_one_thread: seconds[1],
    })
}

/// Wall time of running every network of the sweep's one point, in
/// ensembles of `chunk` networks (default: as a study would, with every
/// thread given work).
fn time_sweep<B: ComputeBackend>(
    sweep: &Sweep,
    threads: usize,
    chunk: Option<usize>,
    device: &B::Device,
) -> f64 {
    let networks = sweep.networks_per_point();
    let seeds: Vec<usize> = (0..networks).collect();
    let train = sweep.train.is_some();
    let chunk = chunk.unwrap_or_else(|| {
        sweep
            .task_members::<B>(&sweep.points[0])
            .min(networks.div_ceil(threads))
            .max(1)
    });
    let tasks = Sweep::tasks_for(0, &seeds, train.then_some(0), chunk);
    let started = Instant::now();
    sweep
        .run::<B, ()>(tasks.into_iter(), threads, device, |_| Ok(()))
        .expect("the bench keeps no results");
    started.elapsed().as_secs_f64()
}

impl BenchReport {
    /// The report as the table `bench` prints.
    pub fn table(&self) -> String {
        let mut text = format!(
            "backend {} · {} thread(s) · matrix product {:.1} GFLOP/s on one thread · estimated peak {:.1} GFLOP/s\n",
            self.backend, self.settings.threads, self.matmul_gflops_one_thread, self.estimated_peak_gflops
        );
        if let Some(cpu) = &self.cpu {
            text += &cpu.line(self.matmul_gflops_one_thread);
            text += "\n";
        }
        text += "\n";
        text += &format!(
            "{:<13} {:>5} {:>5} {:>6}  {:>10} {:>8} {:>7} {:>9}  {:>8} {:>8} {:>7} {:>9}\n",
            "shape",
            "depth",
            "width",
            "params",
            "networks/s",
            "GFLOP/s",
            "% peak",
            "1-at-a-time",
            "steps/s",
            "GFLOP/s",
            "% peak",
            "1-at-a-time"
        );
        for s in &self.shapes {
            let percent = |gflops: f64| 100.0 * gflops / self.estimated_peak_gflops;
            text += &format!(
                "{:<13} {:>5} {:>5} {:>6}  {:>10.1} {:>8.2} {:>6.1}% {:>11.1}  {:>8.1} {:>8.2} {:>6.1}% {:>11.1}\n",
                s.name, s.depth, s.width, s.params, s.networks_per_second, s.measure_gflops, percent(s.measure_gflops),
                s.networks_per_second_one_at_a_time, s.steps_per_second, s.train_gflops, percent(s.train_gflops),
                s.steps_per_second_one_at_a_time
            );
        }
        let (grid, points) = (MeasureConfig::new().grid, ProblemConfig::new().train_size);
        text += &format!(
            "\n(measuring: {} networks per shape on the {grid}×{grid} grid with the gradient profile; training: {} networks × {} full-batch Adam steps on {points} points)\n",
            self.settings.measure_networks, self.settings.train_networks, self.settings.train_steps
        );
        if let Some(planes) = &self.planes {
            text += &format!(
                "digits: depth {}, width {}, 64 inputs, 10 logits, on {} planes: measuring takes {:.2}× the time of the same shape with 2 inputs and 1 logit on the square and the checkerboard\n",
                planes.depth,
                planes.width,
                planes.planes,
                planes.digits_seconds / planes.square_seconds,
            );
        }
        if let Some(study) = &self.study {
            text += &format!(
                "study {}: {:.1} s with {} thread(s), {:.1} s with one ({:.2}×)\n",
                study.file,
                study.seconds,
                self.settings.threads,
                study.seconds_one_thread,
                study.seconds_one_thread / study.seconds
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_counts_follow_the_parameter_count() {
        assert_eq!(forward_flops(2001, 10), 40_020.0);
        assert_eq!(train_step_flops(2001, 10), 120_060.0);
    }
}
