//! Running a checked sweep: it is split into tasks — a chunk of seeds of one
//! point, measured and maybe trained as one ensemble — that worker threads
//! take from a shared queue. Each worker holds its own data on the device;
//! the caller receives finished tasks in completion order and writes them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::records::{NetworkKey, RunRecord};
use super::shard::{partition, Shard};
use crate::error::InputError;
use crate::measure::{MeasureConfig, Measurer};
use crate::nn::{
    ActivationSpec, BackendKind, ComputeBackend, Init, LayerSpec, Mlp, MlpConfig, SupportedBackend,
    INPUT_DIM, OUTPUT_DIM,
};
use crate::problem::ProblemConfig;
use crate::seed::network_seed;
use crate::train::{TrainConfig, Trainer};

/// One (layer, activation, depth, budget) point, sized to its budget.
#[derive(Clone, Debug)]
pub struct Point {
    pub activation: ActivationSpec,
    pub layer: LayerSpec,
    pub config: MlpConfig,
    pub budget: usize,
}

impl Point {
    /// Parameters of one network of the point, from its block type's count.
    pub fn params(&self) -> usize {
        self.layer
            .network_params(self.config.depth, self.config.width, INPUT_DIM, OUTPUT_DIM)
    }

    /// Every (budget, layer, activation, depth) point, in that nesting
    /// order, each sized to its budget; the error says which budget is too
    /// small.
    pub fn grid(
        budgets: &[usize],
        layers: &[LayerSpec],
        activations: &[ActivationSpec],
        depths: &[usize],
        init: Init,
    ) -> Result<Vec<Point>, InputError> {
        let mut points = Vec::new();
        for &budget in budgets {
            for layer in layers {
                for activation in activations {
                    for &depth in depths {
                        let config = MlpConfig::for_budget(budget, depth, activation.name(), layer).ok_or_else(|| {
                            let minimum = layer.network_params(depth, 1, INPUT_DIM, OUTPUT_DIM);
                            InputError::new(
                                "budget",
                                format!(
                                    "{budget} is too small for depth {depth} with {} blocks: width would be < 1 (needs at least {minimum})",
                                    layer.name()
                                ),
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
    #[serde(default = "super::records::default_layer")]
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

/// A checked run: its points, settings, seeds and backend (built by
/// [`super::config::RunConfig::check`]).
#[derive(Clone, Debug)]
pub struct Sweep {
    pub points: Vec<Point>,
    pub measure: MeasureConfig,
    pub problem: ProblemConfig,
    /// `None` when nothing is trained.
    pub train: Option<TrainConfig>,
    /// Networks measured per point.
    pub measure_seeds: usize,
    /// Networks trained per point: seeds `0..train_seeds`.
    pub train_seeds: usize,
    /// The run seed.
    pub seed: u64,
    pub backend: BackendKind,
    /// Run only this shard's networks (see [`super::shard::partition`]).
    pub shard: Option<Shard>,
}

impl Sweep {
    /// Networks per point: the trained ones are measured too.
    pub fn networks_per_point(&self) -> usize {
        self.measure_seeds.max(self.train_seeds)
    }

    /// The tasks still to run, given the networks already finished: the
    /// training tasks first (the long part, so the workers finish together),
    /// then the measuring ones.
    pub fn tasks<B: SupportedBackend>(&self, finished: &[RunRecord]) -> Vec<Task> {
        let done: HashSet<NetworkKey> = finished
            .iter()
            .filter(|r| r.training.is_some() || r.network.seed >= self.train_seeds)
            .map(RunRecord::key)
            .collect();
        let owners = self
            .shard
            .map(|shard| (shard.index, partition(self, shard.count)));
        let mine = |point: usize, seed: usize| {
            owners
                .as_ref()
                .is_none_or(|(index, owners)| owners[point][seed] == *index)
        };
        let mut train_tasks = Vec::new();
        let mut measure_tasks = Vec::new();
        for (index, point) in self.points.iter().enumerate() {
            let todo = |range: std::ops::Range<usize>| -> Vec<usize> {
                range
                    .filter(|&seed| {
                        mine(index, seed) && !done.contains(&NetworkKey::of(point, seed))
                    })
                    .collect()
            };
            let chunk = self.chunk_members::<B>(point);
            let train_seeds = if self.train.is_some() {
                self.train_seeds
            } else {
                0
            };
            train_tasks.extend(Self::tasks_for(index, &todo(0..train_seeds), true, chunk));
            measure_tasks.extend(Self::tasks_for(
                index,
                &todo(train_seeds..self.networks_per_point()),
                false,
                chunk,
            ));
        }
        train_tasks.extend(measure_tasks);
        train_tasks
    }

    /// Networks per ensemble for a point (see `SupportedBackend::CHUNK_ELEMENTS`).
    /// The training set (the gradient profile's, and training's) bounds it:
    /// the grid is streamed in chunks of points.
    pub fn chunk_members<B: SupportedBackend>(&self, point: &Point) -> usize {
        B::members_per_ensemble(
            B::CHUNK_ELEMENTS,
            self.problem.train_size,
            point.config.width,
        )
    }

    /// Splits seed indices of a point into tasks of at most `chunk` networks.
    pub fn tasks_for(point: usize, seeds: &[usize], train: bool, chunk: usize) -> Vec<Task> {
        seeds
            .chunks(chunk)
            .map(|c| Task {
                point,
                seeds: c.to_vec(),
                train,
            })
            .collect()
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
                        let Some(task) = tasks.get(next.fetch_add(1, Ordering::SeqCst)) else {
                            break;
                        };
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
    device: B::Device,
}

impl<'a, B: ComputeBackend> Worker<'a, B> {
    fn new(sweep: &'a Sweep, device: &B::Device) -> Self {
        Self {
            sweep,
            measurer: Measurer::new(
                sweep.measure.clone(),
                sweep.problem.clone(),
                sweep.seed,
                device,
            ),
            trainer: sweep.train.clone().map(|t| {
                Trainer::new(t, sweep.problem.clone(), &sweep.measure, sweep.seed, device)
            }),
            device: device.clone(),
        }
    }

    fn run(&self, task: Task) -> TaskOutput {
        let point = &self.sweep.points[task.point];
        let name = point.activation.name();
        let sweep = self.sweep;
        let network_seeds: Vec<u64> = task
            .seeds
            .iter()
            .map(|&i| {
                network_seed(
                    sweep.seed,
                    point.activation.function.seed_label(),
                    point.config.depth,
                    i,
                )
            })
            .collect();
        let model: Mlp<B> = point.config.init(
            &point.activation,
            &point.layer,
            &network_seeds,
            &self.device,
        );
        let mut measured = self.measurer.measure_ensemble(&model);
        let seed_zero = task.seeds.iter().position(|&i| i == 0);
        let mut landscape = seed_zero.map(|member| Landscape {
            activation: name.to_string(),
            layer: point.layer.name().to_string(),
            depth: point.config.depth,
            budget: point.budget,
            seed: 0,
            grid: sweep.measure.grid,
            v3: measured.networks[member].v3,
            init: std::mem::take(&mut measured.landscapes[member]),
            trained: None,
        });
        let trained = match (&self.trainer, task.train) {
            (Some(trainer), true) => {
                let mut trained = trainer.train(model);
                if let (Some(l), Some(member)) = (landscape.as_mut(), seed_zero) {
                    l.trained = Some(std::mem::take(&mut trained.landscapes[member]));
                }
                Some(trained.networks)
            }
            _ => None,
        };
        let records = measured
            .networks
            .into_iter()
            .enumerate()
            .map(|(member, measures)| {
                RunRecord::new(
                    point,
                    task.seeds[member],
                    network_seeds[member],
                    sweep,
                    measures,
                    trained.as_ref().map(|t| t[member].clone()),
                )
            })
            .collect();
        TaskOutput {
            task,
            records,
            landscape,
        }
    }
}
