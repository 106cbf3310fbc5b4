//! Training on the model problem (METHOD §4): Adam on the summed loss of an
//! ensemble. Adam works per parameter entry and the members share no weights,
//! so each member follows the path it would follow alone.

use std::time::Instant;

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::fused::FusedAdam;
use crate::measure::functions::relative_variation;
use crate::measure::measurer::{output_landscapes, section_landscape};
use crate::measure::{grid_measures, GridMeasures, MeasureConfig};
use crate::nn::stack::{DenseStack, Workspace};
use crate::nn::{ComputeBackend, Mlp};
use crate::problem::{ProblemConfig, ProblemData};
use crate::seed::{derive_seed, host_rng};

/// How networks are trained (METHOD §4). Every field has the METHOD
/// default; this struct and [`AdamConfig`] are the only place those
/// defaults are written (the command line's and the study file's come from
/// here).
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Optimiser steps.
    #[config(default = 2000)]
    pub steps: usize,
    /// The learning rates: one, or several swept (METHOD §9), each
    /// training the same networks.
    #[config(default = "vec![1e-3]")]
    pub learning_rates: Vec<f64>,
    /// Points per step; `None` is full batch.
    pub batch_size: Option<usize>,
    /// Record the loss (and training accuracy) every this many steps.
    #[config(default = 100)]
    pub log_every: usize,
    /// Adam's moment settings.
    #[config(default = "AdamConfig::new()")]
    pub optimizer: AdamConfig,
    /// The optimisers: Adam (METHOD §4, the default), SGD with momentum
    /// (METHOD §9), or both, each swept with every rate.
    #[config(default = "vec![OptimizerKind::Adam]")]
    pub optimizers: Vec<OptimizerKind>,
    /// The steps at which the network under training is measured on the
    /// landscape grid (METHOD §9; sorted, distinct, at most `steps`; step 0
    /// is the network at initialisation). Empty: none.
    #[config(default = "Vec::new()")]
    pub track: Vec<usize>,
    /// SGD's heavy-ball momentum μ, in [0, 1): the velocity is
    /// `v ← μ·v + g` and the step `−lr·v` (no dampening, as PyTorch's SGD).
    #[config(default = 0.9)]
    pub momentum: f64,
}

/// The optimisers a network can be trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba 2015) with [`AdamConfig`]'s settings.
    #[default]
    Adam,
    /// Stochastic gradient descent with heavy-ball momentum (Polyak 1964).
    Sgd,
}

impl OptimizerKind {
    /// The name in records, study files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Sgd => "sgd",
        }
    }
}

/// One training setting (METHOD §9): an optimiser and its learning rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting {
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Its learning rate.
    pub learning_rate: f64,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} lr {:e}", self.optimizer, self.learning_rate)
    }
}

impl std::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Adam's settings (Kingma & Ba 2015), PyTorch's defaults: this crate's own
/// config, turned into Burn's `AdamConfig` for training.
#[derive(Config, Debug, PartialEq)]
pub struct AdamConfig {
    /// β₁, the decay of the first moment.
    #[config(default = 0.9)]
    pub beta1: f64,
    /// β₂, the decay of the second moment.
    #[config(default = 0.999)]
    pub beta2: f64,
    /// ε: PyTorch's 1e-8, not Burn's 1e-5, which slows the layers whose
    /// gradients are tiny — the deep layers under study.
    #[config(default = 1e-8)]
    pub epsilon: f64,
}

impl TrainConfig {
    /// Every setting swept: each optimiser with each rate, optimiser first.
    pub fn settings(&self) -> Vec<Setting> {
        self.optimizers
            .iter()
            .flat_map(|&optimizer| {
                self.learning_rates
                    .iter()
                    .map(move |&learning_rate| Setting {
                        optimizer,
                        learning_rate,
                    })
            })
            .collect()
    }

    /// The optimiser these settings describe on a training set of
    /// `train_size` points, as every training record carries it: a batch as
    /// large as the set is full batch, and is recorded so (`None`).
    pub fn optimizer_record(&self, setting: Setting, train_size: usize) -> OptimizerRecord {
        let adam = (setting.optimizer == OptimizerKind::Adam).then_some(&self.optimizer);
        OptimizerRecord {
            name: setting.optimizer.name().into(),
            learning_rate: setting.learning_rate,
            beta1: adam.map(|a| a.beta1),
            beta2: adam.map(|a| a.beta2),
            epsilon: adam.map(|a| a.epsilon),
            momentum: (setting.optimizer == OptimizerKind::Sgd).then_some(self.momentum),
            steps: self.steps,
            batch_size: self.batch_size.filter(|&b| b < train_size),
        }
    }

    fn adam(&self) -> burn::optim::AdamConfig {
        burn::optim::AdamConfig::new()
            .with_beta_1(self.optimizer.beta1 as f32)
            .with_beta_2(self.optimizer.beta2 as f32)
            .with_epsilon(self.optimizer.epsilon as f32)
    }

    fn sgd(&self) -> burn::optim::SgdConfig {
        let momentum = burn::optim::momentum::MomentumConfig::new()
            .with_momentum(self.momentum)
            .with_dampening(0.0);
        burn::optim::SgdConfig::new().with_momentum(Some(momentum))
    }
}

/// The optimiser a network was trained with, in every training record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerRecord {
    /// The optimiser's name (`adam`, `sgd`).
    pub name: String,
    /// Learning rate.
    pub learning_rate: f64,
    /// Adam's β₁ (Adam only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta1: Option<f64>,
    /// Adam's β₂ (Adam only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta2: Option<f64>,
    /// Adam's ε (Adam only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// SGD's momentum (SGD only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Optimiser steps of the run (a diverged network stops earlier).
    pub steps: usize,
    /// Points per step; `None` is full batch.
    pub batch_size: Option<usize>,
}

/// The outcome of training one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedNetwork {
    /// Training score of the final network (of the last finite step if it
    /// diverged): accuracy on a classification target, R² on a regression
    /// target. The record key keeps its first name, `train_acc`.
    #[serde(rename = "train_acc", deserialize_with = "crate::json::f64_or_nan")]
    pub train_score: f64,
    /// Best training score over the logged steps and the end.
    #[serde(
        rename = "best_train_acc",
        deserialize_with = "crate::json::f64_or_nan"
    )]
    pub best_train_score: f64,
    /// Score on the test set (accuracy or R², as `train_score`).
    #[serde(rename = "test_acc", deserialize_with = "crate::json::f64_or_nan")]
    pub test_score: f64,
    /// Training loss of the final network (of the last finite step if it
    /// diverged).
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub final_loss: f64,
    /// Loss at steps 0, `log_every`, 2·`log_every`, … (up to divergence).
    pub loss_curve: Vec<f64>,
    /// `RV_out` of the trained network on the landscape grid.
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub rv_out_trained: f64,
    /// The trained network is still constant: trapped by C2C.
    pub trapped: bool,
    /// The loss became non-finite; training of this network stopped there.
    pub diverged: bool,
    /// The logged step at which the loss was first seen non-finite.
    pub diverged_at: Option<usize>,
    /// Wall time of the ensemble this network was trained in.
    #[serde(deserialize_with = "crate::json::f64_or_nan")]
    pub train_seconds: f64,
    /// Networks trained together in that ensemble.
    pub ensemble_size: usize,
    /// The optimiser and its settings (absent in records written before
    /// they were recorded, which used Burn's Adam ε = 1e-5).
    #[serde(default)]
    pub optimizer: Option<OptimizerRecord>,
    /// What a diverged run's score counts as: chance (0.5 on the square's
    /// binary targets, the largest class's share on data beyond the plane),
    /// R² = 0 for a regression target.
    #[serde(default = "binary_chance")]
    pub chance: f64,
    /// The data it was trained on (absent in records written before it was
    /// recorded, which trained on the checkerboard).
    #[serde(default)]
    pub data: Option<DataRecord>,
    /// The grid measures at the tracked steps (METHOD §9), in step order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracked: Vec<TrackedStep>,
    /// For a network collapsed at step 0: the first tracked step at which
    /// `RV_out` reached ε again (METHOD §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escape_step: Option<usize>,
}

/// The grid measures of a network under training at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackedStep {
    /// The step: the network after that many optimiser steps.
    pub step: usize,
    /// Its measures on the landscape grid.
    #[serde(flatten)]
    pub measures: GridMeasures,
}

/// The step at which a network collapsed at the first tracked step (step
/// 0) first has a finite `RV_out ≥ ε` again; `None` when it was not
/// collapsed there, or never left (a diverged network's NaN landscape is
/// no escape).
fn escape_step(tracked: &[TrackedStep]) -> Option<usize> {
    let (first, later) = tracked.split_first()?;
    if first.step != 0 || !first.measures.c2c {
        return None;
    }
    later
        .iter()
        .find(|t| t.measures.rv_out.is_finite() && !t.measures.c2c)
        .map(|t| t.step)
}

/// The problem, loss and data set sizes a network was trained on, in every
/// training record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    /// The target with its parameters (`checkerboard:8`, `spirals:3`).
    pub problem: String,
    /// The training loss.
    pub loss: crate::problem::Loss,
    /// Training-set size.
    pub train_size: usize,
    /// Test-set size.
    pub test_size: usize,
}

pub use crate::problem::CHANCE_ACCURACY;

fn binary_chance() -> f64 {
    CHANCE_ACCURACY
}

impl TrainedNetwork {
    /// A score of this run as trainability counts it: as recorded, or
    /// chance when the run diverged (a failed run, never left out).
    pub fn counted(&self, score: f64) -> f64 {
        if self.diverged {
            self.chance
        } else {
            score
        }
    }
}

/// A trained ensemble, each member's results and each member's trained
/// output landscape on the grid's first section (`G × G`, rows y, columns
/// x; the first logit of several).
pub struct TrainedEnsemble<B: ComputeBackend> {
    /// The trained ensemble.
    pub model: Mlp<B>,
    /// Each member's results, in member order.
    pub networks: Vec<TrainedNetwork>,
    /// Each member's trained output landscape, `G × G` values.
    pub landscapes: Vec<Vec<f32>>,
}

/// The data of one run on one device: training and test sets, the grid.
pub struct Trainer<B: ComputeBackend> {
    settings: TrainConfig,
    problem: ProblemConfig,
    chance: f64,
    c2c_threshold: f64,
    measure: MeasureConfig,
    run_seed: u64,
    train_points: Tensor<B, 2>,
    train_labels: Tensor<B, 2>,
    test_points: Tensor<B::InnerBackend, 2>,
    test_labels: Tensor<B::InnerBackend, 2>,
    grid_points: Tensor<B::InnerBackend, 2>,
    device: B::Device,
    /// Whether dense networks train through the fused loop (`nn/stack.rs`'s
    /// passes, `fused.rs`'s Adam) where the backend runs it; the tests turn
    /// it off for the reference.
    fused: bool,
}

/// A member's progress while its ensemble trains.
#[derive(Clone, Default)]
struct MemberLog {
    loss_curve: Vec<f64>,
    best_train_score: f64,
    diverged_at: Option<usize>,
    /// Last finite (loss, accuracy) seen.
    last_finite: Option<(f64, f64)>,
    /// The grid measures at the tracked steps so far.
    tracked: Vec<TrackedStep>,
}

impl<B: ComputeBackend> Trainer<B> {
    /// Trains on `data`'s training set and measures on its landscape;
    /// `measure` gives the grid and ε of the trained network's `RV_out`;
    /// `run_seed` draws the mini-batch order.
    pub fn new(
        settings: TrainConfig,
        problem: ProblemConfig,
        measure: &MeasureConfig,
        data: &ProblemData,
        run_seed: u64,
        device: &B::Device,
    ) -> Self {
        let (train_points, train_labels) = data.train.tensors::<B>(device);
        let (test_points, test_labels) = data.test.tensors(device);
        Self {
            grid_points: data.landscape.tensor(device),
            settings,
            problem,
            chance: data.chance,
            c2c_threshold: measure.c2c_threshold,
            measure: measure.clone(),
            run_seed,
            train_points,
            train_labels,
            test_points,
            test_labels,
            device: device.clone(),
            fused: B::HOST_PASSES,
        }
    }

    /// Points in the training set.
    fn train_size(&self) -> usize {
        self.train_points.dims()[0]
    }

    /// The steps at which the loss is recorded: 0, `log_every`, … and the last.
    fn is_logged(&self, step: usize) -> bool {
        step.is_multiple_of(self.settings.log_every.max(1)) || step + 1 == self.settings.steps
    }

    /// The mini-batch order: a fresh seeded shuffle of the training set per
    /// epoch, the same for every member and every architecture; `None` for
    /// full batch.
    fn batch_order(&self) -> Option<Vec<Vec<usize>>> {
        let train_size = self.train_size();
        let size = self.settings.batch_size.filter(|&b| b < train_size)?;
        let mut rng = host_rng(derive_seed(self.run_seed, &[b"batches"]));
        let mut order: Vec<usize> = (0..train_size).collect();
        let per_epoch = train_size / size;
        let epochs = self.settings.steps.div_ceil(per_epoch.max(1));
        let mut batches = Vec::with_capacity(epochs * per_epoch);
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            batches.extend(order.chunks_exact(size).map(<[usize]>::to_vec));
        }
        Some(batches)
    }

    /// [`Trainer::batch_order`] as index tensors.
    fn batches(&self) -> Option<Vec<Tensor<B, 1, Int>>> {
        let order = self.batch_order()?;
        let tensor = |batch: Vec<usize>| {
            let size = batch.len();
            let indices: Vec<i64> = batch.into_iter().map(|i| i as i64).collect();
            Tensor::from_data(TensorData::new(indices, [size]), &self.device)
        };
        Some(order.into_iter().map(tensor).collect())
    }

    /// Trains every member of `model` with `setting` and reports each one.
    pub fn train(&self, model: Mlp<B>, setting: Setting) -> TrainedEnsemble<B> {
        let started = Instant::now();
        let (model, logs) = self.run_steps(model, setting);
        let trained = model.valid();
        let (final_losses, train_accs) = self.evaluate(
            &trained,
            self.train_points.clone().inner(),
            self.train_labels.clone().inner(),
        );
        let (_, test_accs) =
            self.evaluate(&trained, self.test_points.clone(), self.test_labels.clone());
        let at_points = output_landscapes(&trained, &self.grid_points, B::STREAM_ELEMENTS);
        let outputs = trained.output.weight.dims()[2];
        let rv_outs: Vec<f64> = at_points
            .iter()
            .map(|values| relative_variation(values, outputs))
            .collect();
        let grid = self.measure.grid;
        let landscapes = at_points
            .iter()
            .map(|values| section_landscape(values, outputs, 0, 0, grid))
            .collect();
        let seconds = started.elapsed().as_secs_f64();
        let members = logs.len();
        let networks = logs
            .into_iter()
            .enumerate()
            .map(|(m, log)| {
                let diverged = log.diverged_at.is_some() || !final_losses[m].is_finite();
                let (final_loss, train_score) = if diverged {
                    log.last_finite.unwrap_or((f64::NAN, f64::NAN))
                } else {
                    (final_losses[m], train_accs[m])
                };
                TrainedNetwork {
                    train_score,
                    best_train_score: log.best_train_score.max(if diverged {
                        0.0
                    } else {
                        train_score
                    }),
                    test_score: if diverged { f64::NAN } else { test_accs[m] },
                    final_loss,
                    loss_curve: log.loss_curve,
                    rv_out_trained: rv_outs[m],
                    trapped: !diverged && rv_outs[m] < self.c2c_threshold,
                    diverged,
                    diverged_at: log.diverged_at.or(if diverged {
                        Some(self.settings.steps)
                    } else {
                        None
                    }),
                    train_seconds: seconds,
                    ensemble_size: members,
                    optimizer: Some(self.settings.optimizer_record(setting, self.train_size())),
                    chance: self.chance,
                    data: Some(DataRecord {
                        problem: self
                            .problem
                            .target()
                            .map_or(self.problem.problem.clone(), |t| t.to_string()),
                        loss: self.problem.loss,
                        train_size: self.train_size(),
                        test_size: self.test_points.dims()[0],
                    }),
                    escape_step: escape_step(&log.tracked),
                    tracked: log.tracked,
                }
            })
            .collect();
        TrainedEnsemble {
            model,
            networks,
            landscapes,
        }
    }

    /// The optimiser's steps, logging each member's loss and accuracy on
    /// the logged steps; stops early once every member has diverged.
    fn run_steps(&self, model: Mlp<B>, setting: Setting) -> (Mlp<B>, Vec<MemberLog>) {
        let rate = setting.learning_rate;
        if self.fused && setting.optimizer == OptimizerKind::Adam {
            if let Some(stack) = DenseStack::of(&model) {
                return self.run_fused_steps(model, stack, rate);
            }
        }
        match setting.optimizer {
            OptimizerKind::Adam => self.run_steps_with(model, rate, self.settings.adam().init()),
            OptimizerKind::Sgd => self.run_steps_with(model, rate, self.settings.sgd().init()),
        }
    }

    fn run_steps_with(
        &self,
        mut model: Mlp<B>,
        learning_rate: f64,
        mut optimizer: impl Optimizer<Mlp<B>, B>,
    ) -> (Mlp<B>, Vec<MemberLog>) {
        let settings = &self.settings;
        let batches = self.batches();
        let mut logs = vec![MemberLog::default(); model.members()];
        for step in 0..settings.steps {
            self.track(&model, step, &mut logs);
            let (points, labels) = match &batches {
                Some(batches) => {
                    let batch = batches[step % batches.len()].clone();
                    (
                        self.train_points.clone().select(0, batch.clone()),
                        self.train_labels.clone().select(0, batch),
                    )
                }
                None => (self.train_points.clone(), self.train_labels.clone()),
            };
            let logits = model.forward(model.broadcast_input(points));
            let losses = self.problem.loss.per_member(logits.clone(), labels.clone());
            if self.is_logged(step) {
                let accuracies = self.problem.score(logits.inner(), labels.inner());
                if record(
                    &mut logs,
                    step,
                    host_values(losses.clone().inner()),
                    host_values(accuracies),
                ) {
                    break;
                }
            }
            let gradients = GradientsParams::from_grads(losses.sum().backward(), &model);
            model = optimizer.step(learning_rate, model, gradients);
        }
        if logs.iter().any(|log| log.diverged_at.is_none()) {
            self.track(&model, settings.steps, &mut logs);
        }
        (model, logs)
    }

    /// [`Trainer::run_steps_with`] for Adam on a dense stack, through the
    /// fused loop (`nn/stack.rs`, `fused.rs`): the same steps, logs and
    /// tracking, on host vectors instead of Burn's autodiff.
    fn run_fused_steps(
        &self,
        model: Mlp<B>,
        mut stack: DenseStack,
        learning_rate: f64,
    ) -> (Mlp<B>, Vec<MemberLog>) {
        let settings = &self.settings;
        let sigma = model
            .activation
            .function
            .slices()
            .expect("a dense stack's activation has slice forms");
        let adam_settings = &settings.optimizer;
        let moments = [
            adam_settings.beta1,
            adam_settings.beta2,
            adam_settings.epsilon,
        ];
        let mut adam = FusedAdam::new(moments, learning_rate, &stack);
        let host = |tensor: Tensor<B, 2>| {
            let columns = tensor.dims()[1];
            let values = tensor.into_data().convert::<f32>().to_vec::<f32>();
            (values.expect("f32 data"), columns)
        };
        let (all_points, inputs) = host(self.train_points.clone());
        let (all_labels, outputs) = host(self.train_labels.clone());
        let device = self.test_points.device();
        let order = self.batch_order();
        let gather = |values: &[f32], width: usize, batch: &[usize], picked: &mut Vec<f32>| {
            picked.clear();
            for &row in batch {
                picked.extend_from_slice(&values[row * width..(row + 1) * width]);
            }
        };
        let members = stack.members();
        let mut logs = vec![MemberLog::default(); members];
        let mut works: Vec<Workspace> = (0..members).map(|_| Workspace::default()).collect();
        let (mut batch_points, mut batch_labels) = (Vec::new(), Vec::new());
        for step in 0..settings.steps {
            if settings.track.binary_search(&step).is_ok() {
                self.track(&stack.load_into(model.clone()), step, &mut logs);
            }
            let (points, labels) = match &order {
                Some(order) => {
                    let batch = &order[step % order.len()];
                    gather(&all_points, inputs, batch, &mut batch_points);
                    gather(&all_labels, outputs, batch, &mut batch_labels);
                    (&batch_points[..], &batch_labels[..])
                }
                None => (&all_points[..], &all_labels[..]),
            };
            let size = points.len() / inputs;
            for (member, work) in works.iter_mut().enumerate() {
                let loss = self.problem.loss;
                stack.gradients(member, [points, labels], loss, sigma, work);
            }
            if self.is_logged(step) {
                let logits = works.iter().flat_map(|w| &w.logits).copied().collect();
                let logits = Tensor::<B::InnerBackend, 3>::from_data(
                    TensorData::new(logits, [members, size, outputs]),
                    &device,
                );
                let labels = Tensor::<B::InnerBackend, 2>::from_data(
                    TensorData::new(labels.to_vec(), [size, outputs]),
                    &device,
                );
                let losses = self.problem.loss.per_member(logits.clone(), labels.clone());
                let accuracies = self.problem.score(logits, labels);
                // The reference stops before its backward pass; the
                // gradients computed here are dropped with the step.
                if record(
                    &mut logs,
                    step,
                    host_values(losses),
                    host_values(accuracies),
                ) {
                    break;
                }
            }
            adam.step(&mut stack, &works);
        }
        let model = stack.load_into(model);
        if logs.iter().any(|log| log.diverged_at.is_none()) {
            self.track(&model, settings.steps, &mut logs);
        }
        (model, logs)
    }

    /// Measures the network under training on the grid when `step` is
    /// tracked.
    fn track(&self, model: &Mlp<B>, step: usize, logs: &mut [MemberLog]) {
        if self.settings.track.binary_search(&step).is_err() {
            return;
        }
        let measures = grid_measures(
            &model.valid(),
            &self.grid_points,
            &self.measure,
            B::STREAM_ELEMENTS,
        );
        for (log, measures) in logs.iter_mut().zip(measures) {
            log.tracked.push(TrackedStep { step, measures });
        }
    }

    /// Per-member loss and accuracy of a trained ensemble on a data set.
    fn evaluate(
        &self,
        model: &Mlp<B::InnerBackend>,
        points: Tensor<B::InnerBackend, 2>,
        labels: Tensor<B::InnerBackend, 2>,
    ) -> (Vec<f64>, Vec<f64>) {
        let logits = model.forward(model.broadcast_input(points));
        let losses = self.problem.loss.per_member(logits.clone(), labels.clone());
        (
            host_values(losses),
            host_values(self.problem.score(logits, labels)),
        )
    }
}

/// Adds one logged step to every member still training; true once every
/// member has diverged (training stops there).
fn record(logs: &mut [MemberLog], step: usize, losses: Vec<f64>, accuracies: Vec<f64>) -> bool {
    for ((log, loss), acc) in logs.iter_mut().zip(losses).zip(accuracies) {
        if log.diverged_at.is_some() {
            continue;
        }
        if !loss.is_finite() {
            log.diverged_at = Some(step);
            continue;
        }
        log.loss_curve.push(loss);
        log.best_train_score = log.best_train_score.max(acc);
        log.last_finite = Some((loss, acc));
    }
    logs.iter().all(|log| log.diverged_at.is_some())
}

fn host_values<Bk: burn::tensor::backend::Backend>(values: Tensor<Bk, 1>) -> Vec<f64> {
    values
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("float data")
}

#[cfg(test)]
mod fused_tests {
    //! The fused loop (`nn/stack.rs`, `fused.rs`) against Burn's autodiff on
    //! Flex: the same networks trained both ways give the same loss curves.

    use super::*;
    use crate::nn::{ActivationRegistry, LayerRegistry, MlpConfig};
    use crate::problem::Loss;
    use burn::backend::{Autodiff, Flex};

    type B = Autodiff<Flex>;

    fn model(layer: &str, activation: &str, [inputs, depth, width, outputs]: [usize; 4]) -> Mlp<B> {
        MlpConfig::new(depth, width, activation.into())
            .with_layer(layer.into())
            .with_input_dim(inputs)
            .with_output_dim(outputs)
            .init(
                &ActivationRegistry::builtin().get(activation).unwrap(),
                &LayerRegistry::builtin().get(layer).unwrap(),
                &[3, 4],
                &Default::default(),
            )
    }

    /// Trains `model` with the first setting of `settings`, through the
    /// fused loop and then through autodiff: `(fused, reference)`.
    fn train_both(
        settings: TrainConfig,
        problem: ProblemConfig,
        model: Mlp<B>,
    ) -> (TrainedEnsemble<B>, TrainedEnsemble<B>) {
        assert!(
            DenseStack::of(&model).is_some(),
            "the fused loop takes this network"
        );
        let measure = MeasureConfig::new().with_grid(8);
        let data = problem.data(0, measure.grid, measure.planes).unwrap();
        let mut trainer =
            Trainer::<B>::new(settings, problem, &measure, &data, 0, &Default::default());
        assert!(trainer.fused, "Flex trains dense networks fused");
        let setting = trainer.settings.settings()[0];
        let fused = trainer.train(model.clone(), setting);
        trainer.fused = false;
        (fused, trainer.train(model, setting))
    }

    /// Trains `model` through the fused loop and through autodiff, and
    /// checks that every member's record is the same, the landscape of the
    /// trained network included: to the bit where the stack stores its
    /// passes point by point (the fused loop calls the kernels autodiff
    /// calls, in the same order), within float tolerance ([`close`]) where
    /// it stores them in chunks (`columns.rs` sums the weight gradients
    /// over the points in another order).
    fn agree(settings: TrainConfig, problem: ProblemConfig, model: Mlp<B>) {
        let in_chunks = DenseStack::of(&model).unwrap().in_chunks();
        let (fused, reference) = train_both(settings, problem, model);
        if in_chunks {
            return close(&fused, &reference);
        }
        let timeless = |network: &TrainedNetwork| TrainedNetwork {
            train_seconds: 0.0,
            ..network.clone()
        };
        for (fused, reference) in fused.networks.iter().zip(&reference.networks) {
            assert!(!reference.diverged && reference.loss_curve.len() > 1);
            assert_eq!(timeless(fused), timeless(reference));
        }
        assert_eq!(fused.landscapes, reference.landscapes);
    }

    /// Every member's loss curve within 1e-5 relative at every logged step
    /// (the tolerance for fused paths), its scores within 0.01,
    /// its tracked measures and trained landscape within 1e-4.
    fn close(fused: &TrainedEnsemble<B>, reference: &TrainedEnsemble<B>) {
        let near = |a: f64, b: f64, tolerance: f64| (a - b).abs() <= tolerance * b.abs().max(1.0);
        for (fused, reference) in fused.networks.iter().zip(&reference.networks) {
            assert!(!reference.diverged && reference.loss_curve.len() > 1);
            assert_eq!(fused.loss_curve.len(), reference.loss_curve.len());
            for (step, (a, b)) in fused
                .loss_curve
                .iter()
                .zip(&reference.loss_curve)
                .enumerate()
            {
                assert!((a - b).abs() <= 1e-5 * b, "step {step}: {a} vs {b}");
            }
            for (a, b) in [
                (fused.train_score, reference.train_score),
                (fused.test_score, reference.test_score),
            ] {
                assert!((a - b).abs() <= 0.01, "scores {a} vs {b}");
            }
            assert_eq!(fused.tracked.len(), reference.tracked.len());
            for (a, b) in fused.tracked.iter().zip(&reference.tracked) {
                let (a, b) = (&a.measures, &b.measures);
                assert!(
                    near(a.activation_ratio, b.activation_ratio, 0.01),
                    "{a:?} vs {b:?}"
                );
                assert!(near(a.v3, b.v3, 1e-4) && near(a.rv_out, b.rv_out, 1e-4));
            }
        }
        for (a, b) in fused
            .landscapes
            .iter()
            .flatten()
            .zip(reference.landscapes.iter().flatten())
        {
            assert!(near(*a as f64, *b as f64, 1e-4), "landscape {a} vs {b}");
        }
    }

    fn every_step(steps: usize) -> TrainConfig {
        TrainConfig::new()
            .with_steps(steps)
            .with_log_every(1)
            .with_learning_rates(vec![1e-2])
    }

    fn checkerboard() -> ProblemConfig {
        ProblemConfig::new()
            .with_train_size(300)
            .with_test_size(100)
            .with_cells(2)
    }

    #[test]
    fn narrow_networks_of_every_sliced_activation_train_as_through_autodiff() {
        for activation in [
            "relu",
            "abs",
            "leaky_relu",
            "tanh",
            "identity",
            "shifted-relu:0.3",
            "clipped-relu:0:1",
        ] {
            let network = model("dense", activation, [2, 3, 6, 1]);
            agree(every_step(200), checkerboard(), network);
        }
    }

    #[test]
    fn wide_networks_train_as_through_autodiff() {
        // Width 10: every layer narrow, the passes stored in chunks.
        agree(
            every_step(200),
            checkerboard(),
            model("dense", "relu", [2, 3, 10, 1]),
        );
        // Width 24: the products go through gemm, not the narrow kernels.
        agree(
            every_step(200),
            checkerboard(),
            model("dense", "tanh", [2, 2, 24, 1]),
        );
        agree(
            every_step(200),
            checkerboard(),
            model("dense", "relu", [2, 1, 40, 1]),
        );
        // Width 64 on a batch that passes whole: the first and the output
        // layers go through the thin kernels.
        agree(
            every_step(200),
            checkerboard(),
            model("dense", "tanh", [2, 1, 64, 1]),
        );
    }

    /// A batch whose widest intermediate outgrows a cache block runs block
    /// of rows by block of rows: the weight gradients are sums over the
    /// blocks, in another order than autodiff's one sum, so the loss
    /// curves agree to float tolerance instead of to the bit.
    #[test]
    fn wide_batches_in_blocks_train_as_through_autodiff_within_1e_5() {
        let network = model("dense", "relu", [2, 1, 500, 1]);
        let stack = DenseStack::of(&network).unwrap();
        let points = checkerboard().train_size;
        assert!(
            stack.block_rows(points) < points,
            "the batch runs in blocks"
        );
        let (fused, reference) = train_both(every_step(200), checkerboard(), network);
        assert_eq!(fused.networks[0].loss_curve.len(), 200);
        close(&fused, &reference);
    }

    #[test]
    fn tracked_steps_measure_the_same_networks() {
        let tracked = every_step(60).with_track(vec![0, 30, 60]);
        agree(
            tracked,
            checkerboard(),
            model("dense", "relu", [2, 3, 6, 1]),
        );
    }

    #[test]
    fn the_mse_loss_and_mini_batches_train_as_through_autodiff() {
        let mse = checkerboard().with_loss(Loss::Mse);
        agree(every_step(200), mse, model("dense", "relu", [2, 2, 8, 1]));
        let batches = every_step(200).with_batch_size(Some(64));
        agree(batches, checkerboard(), model("dense", "abs", [2, 2, 8, 1]));
    }

    #[test]
    fn ten_classes_train_as_through_autodiff() {
        let digits = ProblemConfig::new().with_problem("digits".into());
        agree(
            every_step(100),
            digits.clone(),
            model("dense", "relu", [64, 2, 16, 10]),
        );
        // Width 8 with 64 inputs: the narrow kernels point by point, to
        // the bit (the first layer is too wide to be stored in chunks).
        let narrow = model("dense", "relu", [64, 2, 8, 10]);
        assert!(!DenseStack::of(&narrow).unwrap().in_chunks());
        agree(every_step(100), digits, narrow);
    }

    #[test]
    fn a_diverging_network_diverges_at_the_same_step() {
        let huge = every_step(40).with_learning_rates(vec![1e30]);
        // Width 24 point by point (the whole record to the bit; a linear
        // network, which overflows where a wide relu one stays finite),
        // width 8 in chunks (the step at which it diverged).
        for (activation, width) in [("identity", 24), ("relu", 8)] {
            let network = model("dense", activation, [2, 3, width, 1]);
            let (fused, reference) = train_both(huge.clone(), checkerboard(), network);
            for (fused, reference) in fused.networks.iter().zip(&reference.networks) {
                assert!(fused.diverged && fused.diverged_at.is_some(), "{fused:?}");
                assert_eq!(fused.diverged_at, reference.diverged_at);
                if width == 24 {
                    assert_eq!(
                        (&fused.loss_curve, fused.final_loss),
                        (&reference.loss_curve, reference.final_loss)
                    );
                }
            }
        }
    }

    #[test]
    fn other_layers_and_activations_keep_autodiff() {
        assert!(DenseStack::of(&model("residual", "relu", [2, 2, 8, 1])).is_none());
        assert!(DenseStack::of(&model("dense", "sigmoid", [2, 2, 8, 1])).is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{ActivationRegistry, LayerRegistry, MlpConfig};
    use burn::backend::{Autodiff, NdArray};

    type B = Autodiff<NdArray>;

    /// Trains with the trainer's first setting.
    fn train(trainer: &Trainer<B>, model: Mlp<B>) -> TrainedEnsemble<B> {
        trainer.train(model, trainer.settings.settings()[0])
    }

    fn small_settings() -> TrainConfig {
        TrainConfig::new().with_steps(150).with_log_every(25)
    }

    fn trainer(settings: TrainConfig) -> Trainer<B> {
        let problem = ProblemConfig::new()
            .with_train_size(256)
            .with_test_size(256)
            .with_cells(2);
        trainer_on(settings, problem)
    }

    fn trainer_on(settings: TrainConfig, problem: ProblemConfig) -> Trainer<B> {
        let measure = MeasureConfig::new().with_grid(16);
        let data = problem.data(0, measure.grid, measure.planes).unwrap();
        Trainer::new(settings, problem, &measure, &data, 0, &Default::default())
    }

    fn ensemble(activation: &str, depth: usize, width: usize, seeds: &[u64]) -> Mlp<B> {
        ensemble_of("dense", activation, depth, width, seeds)
    }

    fn ensemble_of(
        layer: &str,
        activation: &str,
        depth: usize,
        width: usize,
        seeds: &[u64],
    ) -> Mlp<B> {
        let spec = ActivationRegistry::builtin().get(activation).unwrap();
        let layer = LayerRegistry::builtin().get(layer).unwrap();
        MlpConfig::new(depth, width, activation.into())
            .with_layer(layer.name().into())
            .init(&spec, &layer, seeds, &Default::default())
    }

    #[test]
    fn training_reduces_the_loss_on_a_small_problem() {
        let trainer = trainer(small_settings().with_learning_rates(vec![1e-2]));
        let trained = train(&trainer, ensemble("relu", 2, 16, &[1, 2]));
        for network in &trained.networks {
            let first = network.loss_curve[0];
            assert!(
                network.final_loss < 0.8 * first,
                "loss {first} -> {}",
                network.final_loss
            );
            assert!(
                network.train_score > 0.6,
                "accuracy {}",
                network.train_score
            );
            assert!(!network.diverged);
            assert_eq!(network.loss_curve.len(), 7); // steps 0, 25, …, 125, and the last (149)
            let data = network.data.as_ref().expect("the data are recorded");
            assert_eq!(
                (
                    data.problem.as_str(),
                    data.loss,
                    data.train_size,
                    data.test_size
                ),
                ("checkerboard:2", crate::problem::Loss::Bce, 256, 256)
            );
        }
    }

    #[test]
    fn ten_digits_train_by_softmax_cross_entropy() {
        let settings = small_settings()
            .with_steps(200)
            .with_learning_rates(vec![1e-2]);
        let trainer = trainer_on(settings, ProblemConfig::new().with_problem("digits".into()));
        let model = MlpConfig::new(2, 32, "relu".into())
            .with_input_dim(64)
            .with_output_dim(10)
            .init(
                &ActivationRegistry::builtin().get("relu").unwrap(),
                &LayerRegistry::builtin().get("dense").unwrap(),
                &[1, 2],
                &Default::default(),
            );
        let trained = train(&trainer, model);
        for network in &trained.networks {
            // Ten balanced classes: chance is about one in ten; a small MLP
            // is far above it on held-out digits.
            assert!((network.chance - 0.1).abs() < 0.01, "{}", network.chance);
            assert!(
                network.test_score > 0.85,
                "test accuracy {}",
                network.test_score
            );
            assert!(network.final_loss < 0.5 * network.loss_curve[0]);
            let data = network.data.as_ref().unwrap();
            assert_eq!(
                (data.train_size + data.test_size, data.problem.as_str()),
                (1797, "digits")
            );
            // Four planes of 16² points were measured; the kept landscape is one.
            assert_eq!(trained.landscapes[0].len(), 256);
            assert!(network.rv_out_trained > 0.0);
        }
    }

    #[test]
    fn tracking_at_step_zero_gives_the_init_measures_exactly() {
        let trainer = trainer(small_settings().with_track(vec![0, 50, 150]));
        let model = ensemble("relu", 3, 8, &[1, 2]);
        let problem = ProblemConfig::new().with_train_size(256);
        let data = problem.data(0, 16, 1).unwrap();
        let measurer = crate::measure::Measurer::<B>::new(
            MeasureConfig::new().with_grid(16),
            problem,
            &data,
            &Default::default(),
        );
        let init = measurer.measure_ensemble(&model).networks;
        let trained = train(&trainer, model);
        for (network, init) in trained.networks.iter().zip(&init) {
            let steps: Vec<usize> = network.tracked.iter().map(|t| t.step).collect();
            assert_eq!(steps, [0, 50, 150]);
            let at_zero = &network.tracked[0].measures;
            assert_eq!(
                (
                    at_zero.v3,
                    at_zero.rv_out,
                    at_zero.activation_ratio,
                    at_zero.c2c
                ),
                (init.v3, init.rv_out, init.activation_ratio, init.c2c)
            );
            // The last tracked step is the trained network (RV_out from the
            // streamed moments there, from the landscape's values here).
            let (tracked, trained) = (network.tracked[2].measures.rv_out, network.rv_out_trained);
            assert!(
                (tracked - trained).abs() <= 1e-6 * trained,
                "{tracked} vs {trained}"
            );
        }
    }

    #[test]
    fn a_collapsed_network_escapes_at_the_first_step_it_varies_again() {
        let at = |step: usize, c2c: bool| TrackedStep {
            step,
            measures: GridMeasures {
                activation_ratio: 0.5,
                v3: 0.0,
                rv_out: if c2c { 0.0 } else { 0.1 },
                c2c,
            },
        };
        assert_eq!(
            escape_step(&[at(0, true), at(10, true), at(100, false)]),
            Some(100)
        );
        assert_eq!(escape_step(&[at(0, true), at(10, true)]), None);
        assert_eq!(escape_step(&[at(0, false), at(10, false)]), None);
        assert_eq!(escape_step(&[at(5, true), at(10, false)]), None);
        let mut diverged = at(10, false);
        diverged.measures.rv_out = f64::NAN;
        assert_eq!(
            escape_step(&[at(0, true), diverged, at(20, false)]),
            Some(20)
        );
    }

    #[test]
    fn sgd_with_momentum_trains_and_is_recorded_as_such() {
        let sgd = small_settings()
            .with_optimizers(vec![OptimizerKind::Sgd])
            .with_learning_rates(vec![0.05]);
        let with_momentum = train(&trainer(sgd.clone()), ensemble("relu", 2, 16, &[1]));
        let network = &with_momentum.networks[0];
        assert!(
            network.final_loss < 0.8 * network.loss_curve[0],
            "{network:?}"
        );
        let record = network.optimizer.as_ref().unwrap();
        assert_eq!(
            (record.name.as_str(), record.momentum, record.beta1),
            ("sgd", Some(0.9), None)
        );
        // The momentum is used: without it the path differs.
        let plain = train(
            &trainer(sgd.with_momentum(0.0)),
            ensemble("relu", 2, 16, &[1]),
        );
        assert_ne!(plain.networks[0].loss_curve, network.loss_curve);
        let defaults = small_settings();
        let adam = defaults.optimizer_record(defaults.settings()[0], 256);
        assert_eq!(
            (adam.name.as_str(), adam.momentum, adam.beta1),
            ("adam", None, Some(0.9))
        );
    }

    #[test]
    fn every_shipped_block_type_trains() {
        let trainer = trainer(small_settings().with_learning_rates(vec![1e-2]));
        for layer in ["residual", "layernorm-dense"] {
            let trained = train(&trainer, ensemble_of(layer, "relu", 3, 12, &[1, 2]));
            for network in &trained.networks {
                assert!(
                    network.final_loss < 0.8 * network.loss_curve[0],
                    "{layer}: {network:?}"
                );
            }
        }
    }

    #[test]
    fn a_huge_learning_rate_is_recorded_as_diverged() {
        let trainer = trainer(small_settings().with_learning_rates(vec![1e30]));
        let trained = train(&trainer, ensemble("relu", 3, 8, &[1]));
        let network = &trained.networks[0];
        assert!(network.diverged, "{network:?}");
        assert!(network.diverged_at.is_some());
        assert!(network.loss_curve.iter().all(|l| l.is_finite()));
    }

    #[test]
    fn members_train_as_they_would_alone() {
        let trainer = trainer(small_settings().with_steps(40));
        let together = train(&trainer, ensemble("tanh", 2, 6, &[5, 6, 7]));
        let alone = train(&trainer, ensemble("tanh", 2, 6, &[6]));
        let (a, b) = (&together.networks[1], &alone.networks[0]);
        for (x, y) in a.loss_curve.iter().zip(&b.loss_curve) {
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1e-3), "{x} vs {y}");
        }
        assert!((a.test_score - b.test_score).abs() <= 1e-3);
    }

    #[test]
    fn a_batch_as_large_as_the_set_is_recorded_as_full_batch() {
        let settings = small_settings().with_batch_size(Some(999_999));
        assert!(
            trainer(settings.clone()).batches().is_none(),
            "trains full batch"
        );
        assert_eq!(
            settings
                .optimizer_record(settings.settings()[0], 256)
                .batch_size,
            None
        );
        let mini = small_settings().with_batch_size(Some(64));
        assert_eq!(
            mini.optimizer_record(mini.settings()[0], 256).batch_size,
            Some(64)
        );
    }

    #[test]
    fn mini_batches_cover_the_training_set_each_epoch() {
        let trainer = trainer(small_settings().with_batch_size(Some(64)).with_steps(8));
        let batches = trainer.batches().unwrap();
        assert_eq!(batches.len(), 8);
        let mut first_epoch: Vec<i64> = batches[..4]
            .iter()
            .flat_map(|b| {
                b.clone()
                    .into_data()
                    .convert::<i64>()
                    .to_vec::<i64>()
                    .unwrap()
            })
            .collect();
        first_epoch.sort();
        assert_eq!(first_epoch, (0..256).collect::<Vec<_>>());
    }
}
