//! Running a checked sweep: it is split into tasks — a chunk of seeds of one
//! point, measured and maybe trained as one ensemble — that worker threads
//! take from a shared queue. Each worker holds its own data on the device;
//! the caller receives finished tasks in completion order and writes them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::records::{MeasureRecord, NetworkKey, RunRecord, SettingKey};
use super::shard::{partition, Shard};
use crate::error::InputError;
use crate::measure::{MeasureConfig, Measurer, NetworkMeasures};
use crate::nn::stack::DenseStack;
use crate::nn::{
    ActivationSpec, BackendKind, ComputeBackend, Init, LayerSpec, Mlp, MlpConfig, SupportedBackend,
};
use crate::problem::{ProblemConfig, ProblemData, Target};
use crate::seed::network_seed;
use crate::train::{Setting, TrainConfig, TrainedNetwork, Trainer};
use crate::{REVISION, VERSION};

/// Multiply-adds (counting [`UNIT_OVERHEAD`]) per point of a pass that
/// one CPU worker gets through per second when training: fitted to the
/// paper study's training times and `bench --scaling`'s training rows at
/// bb40ece (benches/RACE.md). At a247e9d it predicts the paper study's
/// training within 2% in all, but the width-500 network, which the thin
/// kernels made faster, at 1.6–1.8× its time.
pub const TRAIN_RATE: f64 = 6.0e10;

/// The same for a network of dense layers at most 15 units wide, its
/// inputs and outputs included, which the fused loop stores in chunks of
/// points (`src/nn/kernels/columns.rs`): fitted to the paper study's
/// depths 12–64, which it predicts within 14% (benches/RACE.md, fourth
/// round, fifth part).
pub const TRAIN_CHUNKS_RATE: f64 = 1.15e11;

/// The same when measuring, over the training set and the extras (the
/// gradient profile and the proxies): fitted with [`GRID_RATE`],
/// [`MEASURE_EXTRA_POINTS`] and [`MEASURE_EXTRA_DOUBLING`] to the medians
/// of three `bench --scaling` runs on Flex, measuring dense networks on
/// host vectors, which it predicts within 11% (benches/RACE.md, fourth
/// round, sixth part).
pub const MEASURE_RATE: f64 = 3.8e10;

/// The same for the pass over the landscape's grid.
pub const GRID_RATE: f64 = 6.0e10;

/// The work of one hidden unit per point beyond its multiply-adds (the
/// activation, its derivative, the bias, the passes over the layer's
/// values), in multiply-adds. With it the cost follows the paper study's
/// networks from width 500 at depth 1 to width 5 at depth 64.
pub const UNIT_OVERHEAD: f64 = 30.0;

/// Measuring's work beyond the grid and the training set, in points of a
/// pass: the gradient profile and the proxies' per-example passes.
pub const MEASURE_EXTRA_POINTS: f64 = 42_000.0;

/// The work per point at which [`MEASURE_EXTRA_POINTS`] doubles: the
/// proxies' cost grows faster than the parameters (per parameter, it is
/// 1.8× at budget 200,000 what it is at 2,000, in `bench --scaling`).
pub const MEASURE_EXTRA_DOUBLING: f64 = 3.0e5;

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
    /// The key of seed `seed` of this point, trained with `setting` (or
    /// only measured).
    pub fn key(&self, seed: usize, setting: Option<Setting>) -> NetworkKey {
        NetworkKey {
            budget: self.budget,
            layer: self.layer.name().to_string(),
            activation: self.activation.name().to_string(),
            depth: self.config.depth,
            seed,
            setting: setting.map(SettingKey::from),
        }
    }

    /// Parameters of one network of the point, from its layer type's count.
    pub fn params(&self) -> usize {
        self.config.params(&self.layer)
    }

    /// Every (budget, layer, activation, depth) point, in that nesting
    /// order, each sized to its budget for the problem's `[inputs,
    /// outputs]`; the error says which budget is too small.
    pub fn product(
        budgets: &[usize],
        layers: &[LayerSpec],
        activations: &[ActivationSpec],
        depths: &[usize],
        init: Init,
        dims: [usize; 2],
    ) -> Result<Vec<Point>, InputError> {
        let mut points = Vec::new();
        for &budget in budgets {
            for layer in layers {
                for activation in activations {
                    for &depth in depths {
                        let config = MlpConfig::for_budget(budget, depth, activation.name(), layer, dims).ok_or_else(|| {
                            let minimum = layer.network_params(depth, 1, dims[0], dims[1]);
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
    /// The setting the members are trained with after being measured (an
    /// index into [`Sweep::settings`]); `None`: only measured.
    pub setting: Option<usize>,
}

impl Task {
    /// Whether the members are trained.
    pub fn trained(&self) -> bool {
        self.setting.is_some()
    }
}

/// The tasks a sweep still has to run ([`Sweep::tasks`]): which networks
/// are finished and which shard owns each, from which the tasks are made
/// on demand.
pub struct TaskList<'a> {
    sweep: &'a Sweep,
    done: HashSet<NetworkKey>,
    /// This shard's index and the shard of every network, `[point][seed]`.
    owners: Option<(usize, Vec<Vec<usize>>)>,
    /// Networks per task (one ensemble), per point.
    members: Vec<usize>,
    /// The training settings.
    settings: Vec<Setting>,
}

impl TaskList<'_> {
    /// Whether seed `seed` of point `point` is still to run here with
    /// `setting` (or only measured).
    fn to_run(&self, point: usize, seed: usize, setting: Option<usize>) -> bool {
        let mine = self
            .owners
            .as_ref()
            .is_none_or(|(index, owners)| owners[point][seed] == *index);
        let key = || {
            let setting = setting.map(|s| self.settings[s]);
            self.sweep.points[point].key(seed, setting)
        };
        mine && (self.done.is_empty() || !self.done.contains(&key()))
    }

    /// The trained seeds once per setting, then the measured-only ones:
    /// `(setting, seeds)`.
    fn phases(&self) -> Vec<(Option<usize>, std::ops::Range<usize>)> {
        let trained = self.sweep.trained_seeds();
        (0..self.settings.len())
            .map(|setting| (Some(setting), 0..trained))
            .chain([(None, trained..self.sweep.networks_per_point())])
            .collect()
    }

    /// The tasks, in the order they are run.
    pub fn iter(&self) -> impl Iterator<Item = Task> + Send + '_ {
        self.phases().into_iter().flat_map(move |(setting, seeds)| {
            (0..self.sweep.points.len()).flat_map(move |point| {
                let mut seeds = seeds
                    .clone()
                    .filter(move |&seed| self.to_run(point, seed, setting));
                let members = self.members[point];
                std::iter::from_fn(move || {
                    let chunk: Vec<usize> = seeds.by_ref().take(members).collect();
                    (!chunk.is_empty()).then_some(Task {
                        point,
                        seeds: chunk,
                        setting,
                    })
                })
            })
        })
    }

    /// The networks still to run and their total cost
    /// ([`Sweep::network_cost`]), counted without making the tasks.
    pub fn size(&self) -> (usize, f64) {
        self.iter().fold((0, 0.0), |(networks, cost), task| {
            (
                networks + task.seeds.len(),
                cost + self.sweep.task_cost(&task),
            )
        })
    }
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
    /// For a landscape on a plane through the data (METHOD §10): the plane
    /// coordinates `(u, v)` of the three training points it passes through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<[f64; 2]>,
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
    /// The run's data and landscape, loaded once when the run was checked.
    pub data: Arc<ProblemData>,
}

impl Sweep {
    /// Networks per point: the trained ones are measured too.
    pub fn networks_per_point(&self) -> usize {
        self.measure_seeds.max(self.train_seeds)
    }

    /// The training settings (METHOD §9): every optimiser with every rate;
    /// none when nothing is trained.
    pub fn settings(&self) -> Vec<Setting> {
        self.train
            .as_ref()
            .map_or_else(Vec::new, TrainConfig::settings)
    }

    /// The fixed setting `s₀` (METHOD §9) of the summaries' main rows: the
    /// METHOD §4 default (Adam at 1e-3) when it is swept, else the first
    /// setting.
    pub fn fixed_setting(&self) -> Option<usize> {
        let settings = self.settings();
        let default = TrainConfig::new().settings()[0];
        (!settings.is_empty()).then(|| settings.iter().position(|&s| s == default).unwrap_or(0))
    }

    /// Records per point: one per trained seed and setting, one per other
    /// measured seed.
    pub fn records_per_point(&self) -> usize {
        let trained = self.trained_seeds();
        trained * self.settings().len() + (self.networks_per_point() - trained)
    }

    /// The thread-seconds one network of a point is expected to take on a
    /// CPU worker: to measure it, a pass over the grid ([`GRID_RATE`]) and
    /// one over the training set and [`MEASURE_EXTRA_POINTS`] (growing
    /// with the work per point, by [`MEASURE_EXTRA_DOUBLING`]); to train
    /// it, `steps` forward and backward passes (~3 passes each) over the
    /// training set ([`TRAIN_RATE`], or [`TRAIN_CHUNKS_RATE`] where every
    /// layer is narrow). A pass costs, per point, the parameters'
    /// multiply-adds plus [`UNIT_OVERHEAD`] per hidden unit.
    pub fn network_cost(&self, point: usize, trained: bool) -> f64 {
        let point = &self.points[point];
        let units = (point.config.depth * point.config.width) as f64;
        let work = point.params() as f64 + UNIT_OVERHEAD * units;
        let sections = self.data.landscape.sections();
        let grid = (sections * self.measure.grid * self.measure.grid) as f64;
        let data = self.data.train.len() as f64;
        let steps = self.train.as_ref().map_or(0, |t| t.steps) as f64;
        let extra = MEASURE_EXTRA_POINTS * (1.0 + work / MEASURE_EXTRA_DOUBLING);
        let measuring = work * grid / GRID_RATE + work * (data + extra) / MEASURE_RATE;
        let config = &point.config;
        let units = [config.input_dim, config.width, config.output_dim];
        let in_chunks = DenseStack::takes(&point.layer, &point.activation)
            && DenseStack::stores_in_chunks(&units);
        let rate = match in_chunks {
            true => TRAIN_CHUNKS_RATE,
            false => TRAIN_RATE,
        };
        let training = match trained {
            true => work * 3.0 * steps * data / rate,
            false => 0.0,
        };
        measuring + training
    }

    /// The cost of a task: its networks' [`Sweep::network_cost`].
    pub fn task_cost(&self, task: &Task) -> f64 {
        task.seeds.len() as f64 * self.network_cost(task.point, task.trained())
    }

    /// A rough wall time for work of total cost `cost` (thread-seconds) on
    /// `threads` workers.
    pub fn estimated_seconds(&self, cost: f64, threads: usize) -> f64 {
        cost / threads.max(1) as f64
    }

    /// The shard of every network of the sweep, `[point][seed]`, balanced
    /// by [`Sweep::network_cost`] ([`partition`]).
    pub fn partition(&self, count: usize) -> Vec<Vec<usize>> {
        let train_seeds = self.trained_seeds();
        // A trained seed is trained once per setting, on its one shard.
        let settings = self.settings().len() as f64;
        let costs: Vec<Vec<f64>> = (0..self.points.len())
            .map(|point| {
                (0..self.networks_per_point())
                    .map(|seed| match seed < train_seeds {
                        true => settings * self.network_cost(point, true),
                        false => self.network_cost(point, false),
                    })
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
        // The square's problems keep the records they always had.
        let beyond_the_square = !matches!(self.problem.target(), Ok(Target::Square(_)));
        let data = &self.data;
        let network = MeasureRecord {
            input_dim: beyond_the_square.then_some(data.train.inputs),
            classes: beyond_the_square.then_some(data.train.classes),
            planes: (!data.landscape.planes.is_empty()).then_some(data.landscape.planes.len()),
            split: data.split.clone(),
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
    /// then the measuring ones. They are made one at a time as workers ask,
    /// so memory does not grow with the number of seeds.
    pub fn tasks<B: SupportedBackend>(&self, finished: &[RunRecord]) -> TaskList<'_> {
        TaskList {
            sweep: self,
            done: self.finished_keys(finished),
            owners: self
                .shard
                .map(|shard| (shard.index, self.partition(shard.count))),
            members: self
                .points
                .iter()
                .map(|p| self.task_members::<B>(p))
                .collect(),
            settings: self.settings(),
        }
    }

    /// The keys of the records that finish their network: a seed to be
    /// trained is finished by a trained record, another by any record.
    pub fn finished_keys(&self, records: &[RunRecord]) -> HashSet<NetworkKey> {
        records
            .iter()
            .filter(|r| r.training.is_some() || r.network.seed >= self.train_seeds)
            .map(RunRecord::key)
            .collect()
    }

    /// Seeds `0..trained_seeds()` of each point are trained (none when
    /// nothing is).
    pub fn trained_seeds(&self) -> usize {
        if self.train.is_some() {
            self.train_seeds
        } else {
            0
        }
    }

    /// Networks per task (one ensemble) for a point, as the measurer
    /// chunks them (see `SupportedBackend::CHUNK_ELEMENTS`). The training
    /// set (the gradient profile's, and training's) bounds it: the grid is
    /// streamed in chunks of points.
    pub fn task_members<B: SupportedBackend>(&self, point: &Point) -> usize {
        point
            .config
            .members_per_ensemble::<B>(B::CHUNK_ELEMENTS, self.data.train.len())
    }

    /// Splits seed indices of a point into tasks of at most `chunk` networks.
    pub fn tasks_for(
        point: usize,
        seeds: &[usize],
        setting: Option<usize>,
        chunk: usize,
    ) -> Vec<Task> {
        seeds
            .chunks(chunk)
            .map(|c| Task {
                point,
                seeds: c.to_vec(),
                setting,
            })
            .collect()
    }

    /// Runs `tasks` on `threads` workers, handing each finished task to
    /// `on_done` on this thread, in completion order. Stops at the first
    /// error `on_done` returns. A worker sets itself up on the device only
    /// once it has a task.
    pub fn run<B: ComputeBackend, E>(
        &self,
        tasks: impl Iterator<Item = Task> + Send,
        threads: usize,
        device: &B::Device,
        mut on_done: impl FnMut(TaskOutput) -> Result<(), E>,
    ) -> Result<(), E> {
        let tasks = Mutex::new(tasks);
        let next = || tasks.lock().unwrap_or_else(PoisonError::into_inner).next();
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::channel();
            for _ in 0..threads.max(1) {
                let sender = sender.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(move || {
                    let Some(first) = next() else {
                        return;
                    };
                    let worker = Worker::<B>::new(self, device);
                    let mut task = Some(first);
                    while let Some(current) = task.take() {
                        if stop.load(Ordering::Relaxed) || sender.send(worker.run(current)).is_err()
                        {
                            break;
                        }
                        task = next();
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
    settings: Vec<Setting>,
    device: B::Device,
}

impl<'a, B: ComputeBackend> Worker<'a, B> {
    fn new(sweep: &'a Sweep, device: &B::Device) -> Self {
        Self {
            sweep,
            measurer: Measurer::new(
                sweep.measure.clone(),
                sweep.problem.clone(),
                &sweep.data,
                device,
            ),
            trainer: sweep.train.clone().map(|t| {
                Trainer::new(
                    t,
                    sweep.problem.clone(),
                    &sweep.measure,
                    &sweep.data,
                    sweep.run_seed,
                    device,
                )
            }),
            settings: sweep.settings(),
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
        // Seed 0's landscapes are kept once: with the fixed setting's
        // training, or measured only.
        let seed_zero = task
            .seeds
            .iter()
            .position(|&i| i == 0)
            .filter(|_| task.setting.is_none() || task.setting == sweep.fixed_setting());
        let mut landscape = seed_zero.map(|member| Landscape {
            activation: name.to_string(),
            layer: point.layer.name().to_string(),
            depth: point.config.depth,
            budget: point.budget,
            seed: 0,
            grid: sweep.measure.grid,
            v3: measured.networks[member].v3,
            marks: sweep.data.landscape.marks(0),
            init: std::mem::take(&mut measured.landscapes[member]),
            trained: None,
        });
        let trained = match (&self.trainer, task.setting) {
            (Some(trainer), Some(setting)) => {
                let mut trained = trainer.train(model, self.settings[setting]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Registry;
    use crate::study::records::test_record;
    use burn::backend::NdArray;

    /// relu at depths 1 and 2, `seeds` networks per point, the first
    /// `trained` of them trained: built whole, past the memory guard, as
    /// the list of tasks must not need the memory.
    fn sweep(seeds: usize, trained: usize) -> Sweep {
        let registry = Registry::builtin();
        let relu = registry.activations.get("relu").unwrap();
        let dense = registry.layers.get("dense").unwrap();
        Sweep {
            points: Point::product(
                &[2000],
                &[dense],
                &[relu],
                &[1, 2],
                Init::default(),
                crate::nn::PLANE_DIMS,
            )
            .unwrap(),
            measure: MeasureConfig::new(),
            problem: ProblemConfig::new(),
            data: Arc::new(ProblemConfig::new().data(0, 101, 4).unwrap()),
            train: Some(TrainConfig::new()),
            measure_seeds: seeds,
            train_seeds: trained,
            run_seed: 0,
            backend: BackendKind::default(),
            shard: None,
        }
    }

    #[test]
    fn the_tasks_are_made_as_they_are_asked_for() {
        // 2^40 seeds per point: a list made whole would need 8 TB.
        let sweep = sweep(1 << 40, 3);
        let tasks = sweep.tasks::<NdArray>(&[]);
        let first: Vec<Task> = tasks.iter().take(8).collect();
        let trained: Vec<(usize, usize)> = first
            .iter()
            .filter(|t| t.trained())
            .flat_map(|t| t.seeds.iter().map(|&seed| (t.point, seed)))
            .collect();
        assert_eq!(trained, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
        let measured = first.iter().find(|t| !t.trained()).unwrap();
        assert_eq!(
            (measured.point, measured.seeds[0], measured.seeds.len()),
            (0, 3, tasks.members[0])
        );
    }

    #[test]
    fn every_setting_trains_the_same_seeds() {
        use crate::train::OptimizerKind::{Adam, Sgd};
        let mut sweep = sweep(4, 2);
        sweep.train = Some(
            TrainConfig::new()
                .with_optimizers(vec![Sgd, Adam])
                .with_learning_rates(vec![1e-2, 1e-3]),
        );
        // Per point: 2 trained seeds × 4 settings, and 2 measured only.
        assert_eq!(sweep.records_per_point(), 10);
        let tasks: Vec<Task> = sweep.tasks::<NdArray>(&[]).iter().collect();
        assert_eq!(tasks.iter().map(|t| t.seeds.len()).sum::<usize>(), 20);
        for setting in 0..4 {
            let seeds: Vec<usize> = tasks
                .iter()
                .filter(|t| t.point == 0 && t.setting == Some(setting))
                .flat_map(|t| t.seeds.clone())
                .collect();
            assert_eq!(seeds, [0, 1], "setting {setting}");
        }
        // s₀ is METHOD §4's Adam at 1e-3, wherever it is listed.
        assert_eq!(sweep.settings()[3].optimizer, Adam);
        assert_eq!(sweep.fixed_setting(), Some(3));
    }

    #[test]
    fn the_task_list_skips_finished_networks_and_counts_what_is_left() {
        let sweep = sweep(7, 2);
        let all = sweep.tasks::<NdArray>(&[]);
        assert_eq!(all.size().0, 14);
        let ran: Vec<Task> = all.iter().collect();
        assert_eq!(ran.iter().map(|t| t.seeds.len()).sum::<usize>(), 14);
        let cost: f64 = ran.iter().map(|t| sweep.task_cost(t)).sum();
        assert!((all.size().1 - cost).abs() <= 1e-9 * cost);
        // A measured-only record of a seed that is to be trained is not
        // finished; the others are.
        let record = |point: usize, seed: usize, trained: bool| {
            let mut record = test_record(seed, 0.5, trained.then_some((0.9, false)));
            record.network.depth = sweep.points[point].config.depth;
            record.network.budget = sweep.points[point].budget;
            record
        };
        let finished = [record(0, 0, false), record(0, 1, true), record(1, 5, false)];
        let left = sweep.tasks::<NdArray>(&finished);
        assert_eq!(left.size().0, 12);
        let seeds: Vec<(usize, usize)> = left
            .iter()
            .flat_map(|t| t.seeds.into_iter().map(move |s| (t.point, s)))
            .collect();
        assert!(seeds.contains(&(0, 0)) && !seeds.contains(&(0, 1)));
        assert!(!seeds.contains(&(1, 5)) && seeds.contains(&(1, 6)));
    }
}
