//! Result records: one JSON object per network, as `measure --out`, `train
//! --out` and a study's `runs.jsonl` write them.

use serde::{Deserialize, Serialize};

use crate::measure::NetworkMeasures;
use crate::nn::DEFAULT_LAYER;
use crate::problem::SplitRecord;
use crate::train::{Setting, TrainedNetwork};

/// One measured network, as written by `variability measure --out`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasureRecord {
    /// Activation name.
    pub activation: String,
    /// Layer type (records written before layer types existed are `dense`).
    #[serde(default = "default_layer")]
    pub layer: String,
    /// Number of hidden layers `L`.
    pub depth: usize,
    /// Width `n` of every hidden layer, from the budget (METHOD §1).
    pub width: usize,
    /// The parameter budget `P*` (the actual count is `measures.params`).
    pub budget: usize,
    /// Seed index of this network within its (activation, depth) point.
    pub seed: usize,
    /// The run seed (`--seed`) all network seeds derive from.
    pub run_seed: u64,
    /// The derived seed this network's weights were drawn from.
    pub network_seed: u64,
    /// Initialisation scheme's name (METHOD §2).
    pub init: String,
    /// Landscape grid points per side `G` (METHOD §3).
    pub grid: usize,
    /// The C2C threshold ε (key `epsilon`, as in a study file).
    #[serde(rename = "epsilon")]
    pub c2c_threshold: f64,
    /// Inputs `d` of the network (METHOD §10); absent on the square's
    /// problems, which have two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_dim: Option<usize>,
    /// Classes `k` of the problem; absent on the square's problems (two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// Planes through the data the measures were taken on (METHOD §10);
    /// absent where the landscape is the square.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planes: Option<usize>,
    /// How a shipped data set was split into training and test sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitRecord>,
    /// The compute backend that measured the network.
    pub backend: String,
    /// The measures at initialisation (METHOD §3), as top-level keys.
    #[serde(flatten)]
    pub measures: NetworkMeasures,
    /// The crate version that produced the record.
    pub version: String,
    /// The git revision that produced the record (absent in older records).
    #[serde(default)]
    pub revision: Option<String>,
}

/// One network of a run: its measures at initialisation and, when it was
/// trained, the training results (as written by `train` and `study`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The network and its measures at initialisation.
    #[serde(flatten)]
    pub network: MeasureRecord,
    /// The training results; `None` for a network that was only measured.
    #[serde(flatten)]
    pub training: Option<TrainedNetwork>,
}

impl RunRecord {
    /// Identifies the network within a study.
    pub fn key(&self) -> NetworkKey {
        let n = &self.network;
        NetworkKey {
            budget: n.budget,
            layer: n.layer.clone(),
            activation: n.activation.clone(),
            depth: n.depth,
            seed: n.seed,
            setting: self
                .training
                .as_ref()
                .and_then(|t| t.optimizer.as_ref())
                .map(|o| SettingKey::new(&o.name, o.learning_rate)),
        }
    }
}

/// (budget, layer, activation, depth, seed), and the training setting of
/// a trained network: one record of a study.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkKey {
    /// The parameter budget `P*`.
    pub budget: usize,
    /// Layer type name.
    pub layer: String,
    /// Activation name.
    pub activation: String,
    /// Number of hidden layers `L`.
    pub depth: usize,
    /// Seed index within the point.
    pub seed: usize,
    /// The setting it was trained with; `None` when only measured.
    pub setting: Option<SettingKey>,
}

/// A training setting as a key: the optimiser's name and the learning
/// rate's bits (positive rates order as their bits do).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettingKey {
    /// The optimiser's name.
    pub optimizer: String,
    /// `f64::to_bits` of the learning rate.
    pub learning_rate_bits: u64,
}

impl SettingKey {
    /// The key of `optimizer` at `learning_rate`.
    pub fn new(optimizer: &str, learning_rate: f64) -> Self {
        Self {
            optimizer: optimizer.to_string(),
            learning_rate_bits: learning_rate.to_bits(),
        }
    }
}

impl From<Setting> for SettingKey {
    fn from(setting: Setting) -> Self {
        Self::new(setting.optimizer.name(), setting.learning_rate)
    }
}

impl NetworkKey {
    /// The key without its seed: the point.
    pub fn point(&self) -> (usize, String, String, usize) {
        (
            self.budget,
            self.layer.clone(),
            self.activation.clone(),
            self.depth,
        )
    }
}

/// The layer type of records and study files that do not name one.
pub fn default_layer() -> String {
    DEFAULT_LAYER.to_string()
}

#[cfg(test)]
/// A record of a relu network with the given seed, `RV_out` and, when
/// given, (training score, diverged).
pub(crate) fn test_record(seed: usize, rv_out: f64, training: Option<(f64, bool)>) -> RunRecord {
    let measures = crate::measure::NetworkMeasures {
        params: 10,
        activation_ratio: 0.5,
        activation_count: 1.0,
        v3: 0.01,
        rv_out,
        rv_layers: vec![rv_out],
        c2c: rv_out < 1e-3,
        collapse_layer: None,
        grad_norms: vec![1.0, 1.0],
        proxies: Default::default(),
    };
    let network = MeasureRecord {
        activation: "relu".into(),
        layer: "dense".into(),
        depth: 1,
        width: 2,
        budget: 10,
        seed,
        run_seed: 0,
        network_seed: seed as u64,
        init: "scaled".into(),
        grid: 8,
        c2c_threshold: 1e-3,
        input_dim: None,
        classes: None,
        planes: None,
        split: None,
        backend: "ndarray".into(),
        measures,
        version: "test".into(),
        revision: None,
    };
    let training = training.map(|(train_score, diverged)| crate::train::TrainedNetwork {
        train_score,
        best_train_score: train_score,
        test_score: if diverged { f64::NAN } else { train_score },
        final_loss: 0.1,
        loss_curve: vec![0.7, 0.1],
        rv_out_trained: 0.5,
        trapped: false,
        diverged,
        diverged_at: diverged.then_some(10),
        train_seconds: 1.0,
        ensemble_size: 1,
        optimizer: {
            let defaults = crate::train::TrainConfig::new();
            Some(defaults.optimizer_record(defaults.settings()[0], 64))
        },
        chance: crate::train::CHANCE_ACCURACY,
        data: None,
        tracked: Vec::new(),
        escape_step: None,
    });
    RunRecord { network, training }
}
