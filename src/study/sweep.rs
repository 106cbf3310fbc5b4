//! Running a checked sweep: it is split into tasks — a chunk of seeds of one
//! point, measured and maybe trained as one ensemble — that worker threads
//! take from a shared queue. Each worker holds its own data on the device;
//! the caller receives finished tasks in completion order and writes them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use super::records::{MeasureRecord, NetworkKey, RunRecord};
use super::shard::{partition, Shard};
use crate::error::InputError;
use crate::measure::{MeasureConfig, Measurer, NetworkMeasures};
use crate::nn::{
    ActivationSpec, BackendKind, ComputeBackend, Init, LayerSpec, Mlp, MlpConfig, SupportedBackend,
    INPUT_DIM, OUTPUT_DIM,
};
use crate::problem::ProblemConfig;
use crate::seed::network_seed;
use crate::train::{TrainConfig, TrainedNetwork, Trainer};
use crate::{REVISION, VERSION};

/// One (layer, activation, depth, budget) point, sized to its budget.
#[derive(Clone, Debug)]
pub struct Point {
    /// The activation of every hidden layer.
    pub activation: ActivationSpec,
    /// The hidden layer type.
    pub layer: LayerSpec,
    /// The architecture: depth, width from the budget (METHOD §1), init.
    pub config: MlpConfig,
    /// The parameter budget `P*`.
    pub budget: usize,
}

impl Point {
    /// The key of seed `seed` of this point.
    pub fn key(&self, seed: usize) -> NetworkKey {
        NetworkKey {
            budget: self.budget,
            layer: self.layer.name().to_string(),
            activation: self.activation.name().to_string(),
            depth: self.config.depth,
            seed,
        }
    }

    /// Parameters of one network of the point, from its layer type's count.
    pub fn params(&self) -> usize {
        self.layer
            .network_params(self.config.depth, self.config.width, INPUT_DIM, OUTPUT_DIM)
    }

    /// Every (budget, layer, activation, depth) point, in that nesting
    /// order, each sized to its budget; the error says which budget is too
    /// small.
    pub fn product(
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
    /// Index of the point in [`Sweep::points`].
    pub point: usize,
    /// Seed indices of the ensemble's members.
    pub seeds: Vec<usize>,
    /// Whether the members are trained after being measured.
    pub train: bool,
}

/// The output landscape of one network at initialisation and after training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Landscape {
    /// Activation name.
    pub activation: String,
    /// Layer type name.
    #[serde(default = "super::records::default_layer")]
    pub layer: String,
    /// Number of hidden layers `L`.
    pub depth: usize,
    /// The parameter budget `P*`.
    pub budget: usize,
    /// Seed index within the point.
    pub seed: usize,
    /// Grid points per side `G`.
    pub grid: usize,
    /// `V3` at initialisation (METHOD §3).
    pub v3: f64,
    /// `G × G` values, rows y, columns x.
    pub init: Vec<f32>,
    /// The landscape after training (`G × G`, as `init`); `None` when the
    /// network was not trained.
    pub trained: Option<Vec<f32>>,
}

/// What a finished task hands back.
pub struct TaskOutput {
    /// The task that was run.
    pub task: Task,
    /// One record per network of the task.
    pub records: Vec<RunRecord>,
    /// The landscapes of seed 0, when the task holds it.
    pub landscape: Option<Landscape>,
}

/// A checked run: its points, settings, seeds and backend (built by
/// [`super::config::RunConfig::check`]).
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The points, each sized to its budget.
    pub points: Vec<Point>,
    /// How networks are measured at initialisation.
    pub measure: MeasureConfig,
    /// The model problem: data sets and loss.
    pub problem: ProblemConfig,
    /// `None` when nothing is trained.
    pub train: Option<TrainConfig>,
    /// Networks measured per point.
    pub measure_seeds: usize,
    /// Networks trained per point: seeds `0..train_seeds`.
    pub train_seeds: usize,
    /// The run seed every network seed and data set derives from.
    pub run_seed: u64,
    /// The compute backend, recorded with every network.
    pub backend: BackendKind,
    /// Run only this shard's networks (see [`Sweep::partition`]).
    pub shard: Option<Shard>,
}

impl Sweep {
    /// Networks per point: the trained ones are measured too.
    pub fn networks_per_point(&self) -> usize {
        self.measure_seeds.max(self.train_seeds)
    }

    /// Relative cost of one network of a point: a pass over the grid and
    /// the training set to measure it, and `steps` forward and backward
    /// passes (~3 passes each) over the training set to train it — all ∝
    /// parameters.
    pub fn network_cost(&self, point: usize, trained: bool) -> f64 {
        let params = self.points[point].params() as f64;
        let grid = (self.measure.grid * self.measure.grid) as f64;
        let data = self.problem.train_size as f64;
        let steps = self.train.as_ref().map_or(0, |t| t.steps) as f64;
        params * (grid + data + if trained { 3.0 * steps * data } else { 0.0 })
    }

    /// The shard of every network of the sweep, `[point][seed]`, balanced
    /// by [`Sweep::network_cost`] ([`partition`]).
    pub fn partition(&self, count: usize) -> Vec<Vec<usize>> {
        let train_seeds = if self.train.is_some() {
            self.train_seeds
        } else {
            0
        };
        let costs: Vec<Vec<f64>> = (0..self.points.len())
            .map(|point| {
                (0..self.networks_per_point())
                    .map(|seed| self.network_cost(point, seed < train_seeds))
                    .collect()
            })
            .collect();
        partition(&costs, count)
    }

    /// The record of one network of a point: what it is, how it was made,
    /// its measures and (when trained) its training.
    pub fn record(
        &self,
        point: &Point,
        seed: usize,
        network_seed: u64,
        measures: NetworkMeasures,
        training: Option<TrainedNetwork>,
    ) -> RunRecord {
        let network = MeasureRecord {
            activation: point.activation.name().to_string(),
            layer: point.layer.name().to_string(),
            depth: point.config.depth,
            width: point.config.width,
            budget: point.budget,
            seed,
            run_seed: self.run_seed,
            network_seed,
            init: point.config.init.to_string(),
            grid: self.measure.grid,
            c2c_threshold: self.measure.c2c_threshold,
            backend: self.backend.to_string(),
            measures,
            version: VERSION.to_string(),
            revision: Some(REVISION.to_string()),
        };
        RunRecord { network, training }
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
            .map(|shard| (shard.index, self.partition(shard.count)));
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
                    .filter(|&seed| mine(index, seed) && !done.contains(&point.key(seed)))
                    .collect()
            };
            let chunk = self.task_members::<B>(point);
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

    /// Networks per task (one ensemble) for a point, as the measurer
    /// chunks them (see `SupportedBackend::CHUNK_ELEMENTS`). The training
    /// set (the gradient profile's, and training's) bounds it: the grid is
    /// streamed in chunks of points.
    pub fn task_members<B: SupportedBackend>(&self, point: &Point) -> usize {
        point
            .config
            .members_per_ensemble::<B>(B::CHUNK_ELEMENTS, self.problem.train_size)
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
                sweep.run_seed,
                device,
            ),
            trainer: sweep.train.clone().map(|t| {
                Trainer::new(
                    t,
                    sweep.problem.clone(),
                    &sweep.measure,
                    sweep.run_seed,
                    device,
                )
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
                    sweep.run_seed,
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
                sweep.record(
                    point,
                    task.seeds[member],
                    network_seeds[member],
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
