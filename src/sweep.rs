//! Running networks: a sweep is split into tasks — a chunk of seeds of one
//! point, measured and maybe trained as one ensemble — that worker threads
//! take from a shared queue. Each worker holds its own data on the device;
//! the caller receives finished tasks in completion order and writes them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::activation::ActivationSpec;
use crate::backend::{members_per_chunk, BackendKind, ComputeBackend, SupportedBackend};
use crate::measurement::{MeasureSettings, Measurer};
use crate::layer::LayerSpec;
use crate::model::{network_seed, Init, Mlp, MlpConfig, INPUT_DIM, OUTPUT_DIM};
use crate::problem::grid_tensor;
use crate::records::RunRecord;
use crate::training::{TrainSettings, Trainer};

/// One (layer, activation, depth, budget) point, sized to its budget.
#[derive(Clone, Debug)]
pub struct Point {
    pub activation: ActivationSpec,
    pub layer: LayerSpec,
    pub config: MlpConfig,
    pub budget: usize,
}

impl Point {
    /// Every (budget, layer, activation, depth) point, in that nesting
    /// order, each sized to its budget; the error says which budget is too
    /// small.
    pub fn grid(
        budgets: &[usize],
        layers: &[LayerSpec],
        activations: &[ActivationSpec],
        depths: &[usize],
        init: Init,
    ) -> Result<Vec<Point>, String> {
        let mut points = Vec::new();
        for &budget in budgets {
            for layer in layers {
                for activation in activations {
                    for &depth in depths {
                        let config = MlpConfig::for_budget(budget, depth, activation.name(), layer).ok_or_else(|| {
                            let minimum = layer.network_params(depth, 1, INPUT_DIM, OUTPUT_DIM);
                            format!(
                                "{budget} is too small for depth {depth} with {} blocks: width would be < 1 (needs at least {minimum})",
                                layer.name()
                            )
                        })?;
                        points.push(Point {
                            activation: activation.clone(),
                            layer: layer.clone(),
                            config: config.with_init(init),
                            budget,
                        });
                    }
                }
            }
        }
        Ok(points)
    }
}

/// A chunk of seeds of one point, run as one ensemble.
#[derive(Clone, Debug)]
pub struct Task {
    pub point: usize,
    pub seeds: Vec<usize>,
    pub train: bool,
}

/// The output landscape of one network at initialisation and after training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Landscape {
    pub activation: String,
    #[serde(default = "crate::records::default_layer")]
    pub layer: String,
    pub depth: usize,
    pub budget: usize,
    pub seed: usize,
    pub grid: usize,
    pub v3: f64,
    /// `G × G` values, rows y, columns x.
    pub init: Vec<f32>,
    pub trained: Option<Vec<f32>>,
}

/// What a finished task hands back.
pub struct TaskOutput {
    pub task: Task,
    pub records: Vec<RunRecord>,
    /// The landscapes of seed 0, when the task holds it.
    pub landscape: Option<Landscape>,
}

/// Everything a sweep shares: its points, settings and backend.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub points: Vec<Point>,
    pub measure: MeasureSettings,
    pub train: Option<TrainSettings>,
    pub backend: BackendKind,
}

impl Sweep {
    /// Networks per ensemble for a point (see `SupportedBackend::CHUNK_ELEMENTS`).
    pub fn chunk_members<B: SupportedBackend>(&self, point: &Point) -> usize {
        let train_points = self.train.as_ref().map_or(0, |t| t.train_size);
        let points = self.measure.grid.pow(2).max(train_points);
        members_per_chunk(B::CHUNK_ELEMENTS, points, point.config.width)
    }

    /// Splits seed indices of a point into tasks of at most `chunk` networks.
    pub fn tasks_for(point: usize, seeds: &[usize], train: bool, chunk: usize) -> Vec<Task> {
        seeds.chunks(chunk).map(|c| Task { point, seeds: c.to_vec(), train }).collect()
    }

    /// Runs `tasks` on `threads` workers, handing each finished task to
    /// `on_done` on this thread, in completion order. Stops at the first
    /// error `on_done` returns.
    pub fn run<B: ComputeBackend, E>(
        &self,
        tasks: &[Task],
        threads: usize,
        device: &B::Device,
        mut on_done: impl FnMut(TaskOutput) -> Result<(), E>,
    ) -> Result<(), E> {
        let next = AtomicUsize::new(0);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::channel();
            for _ in 0..threads.clamp(1, tasks.len().max(1)) {
                let sender = sender.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(move || {
                    let worker = Worker::<B>::new(self, device);
                    while !stop.load(Ordering::Relaxed) {
                        let Some(task) = tasks.get(next.fetch_add(1, Ordering::SeqCst)) else { break };
                        if sender.send(worker.run(task.clone())).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            for output in receiver {
                if let Err(error) = on_done(output) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(error);
                }
            }
            Ok(())
        })
    }
}

/// One worker's state on the device.
struct Worker<'a, B: ComputeBackend> {
    sweep: &'a Sweep,
    measurer: Measurer<B>,
    trainer: Option<Trainer<B>>,
    grid_points: Tensor<B::InnerBackend, 2>,
    device: B::Device,
}

impl<'a, B: ComputeBackend> Worker<'a, B> {
    fn new(sweep: &'a Sweep, device: &B::Device) -> Self {
        let settings = &sweep.measure;
        Self {
            sweep,
            measurer: Measurer::new(settings.clone(), device),
            trainer: sweep.train.clone().map(|t| Trainer::new(t, settings.grid, settings.epsilon, settings.seed, device)),
            grid_points: grid_tensor(settings.grid, device),
            device: device.clone(),
        }
    }

    fn run(&self, task: Task) -> TaskOutput {
        let point = &self.sweep.points[task.point];
        let name = point.activation.name();
        let settings = &self.sweep.measure;
        let network_seeds: Vec<u64> =
            task.seeds.iter().map(|&i| network_seed(settings.seed, name, point.config.depth, i)).collect();
        let model: Mlp<B> = point.config.init(&point.activation, &point.layer, &network_seeds, &self.device);
        let measures = self.measurer.measure_ensemble(&model);
        let seed_zero = task.seeds.iter().position(|&i| i == 0);
        let mut landscape = seed_zero.map(|member| Landscape {
            activation: name.to_string(),
            layer: point.layer.name().to_string(),
            depth: point.config.depth,
            budget: point.budget,
            seed: 0,
            grid: settings.grid,
            v3: measures[member].v3,
            init: self.landscape(&model, member),
            trained: None,
        });
        let trained = match (&self.trainer, task.train) {
            (Some(trainer), true) => {
                let trained = trainer.train(model);
                if let (Some(l), Some(member)) = (landscape.as_mut(), seed_zero) {
                    l.trained = Some(self.landscape(&trained.model, member));
                }
                Some(trained.networks)
            }
            _ => None,
        };
        let records = measures
            .into_iter()
            .enumerate()
            .map(|(member, measures)| RunRecord::new(
                point,
                task.seeds[member],
                network_seeds[member],
                settings,
                self.sweep.backend,
                measures,
                trained.as_ref().map(|t| t[member].clone()),
            ))
            .collect();
        TaskOutput { task, records, landscape }
    }

    /// One member's output on the grid, `G × G` row-major.
    fn landscape(&self, model: &Mlp<B>, member: usize) -> Vec<f32> {
        use burn::module::AutodiffModule;
        let valid = model.valid();
        let output = valid.forward(valid.broadcast_input(self.grid_points.clone()));
        output.narrow(0, member, 1).into_data().convert::<f32>().to_vec().expect("float data")
    }
}
