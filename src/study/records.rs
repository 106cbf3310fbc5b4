//! Result records: one JSON object per network, as `measure --out`, `train
//! --out` and a study's `runs.jsonl` write them.

use serde::{Deserialize, Serialize};

use super::sweep::{Point, Sweep};
use crate::measure::NetworkMeasures;
use crate::train::TrainedNetwork;
use crate::{REVISION, VERSION};

/// One measured network, as written by `variability measure --out`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasureRecord {
    pub activation: String,
    /// Block type (records written before block types existed are `dense`).
    #[serde(default = "default_layer")]
    pub layer: String,
    pub depth: usize,
    pub width: usize,
    pub budget: usize,
    /// Seed index of this network within its (activation, depth) point.
    pub seed: usize,
    /// The run seed (`--seed`) all network seeds derive from.
    pub run_seed: u64,
    /// The derived seed this network's weights were drawn from.
    pub network_seed: u64,
    pub init: String,
    pub grid: usize,
    pub epsilon: f64,
    pub backend: String,
    #[serde(flatten)]
    pub measures: NetworkMeasures,
    pub version: String,
    /// The git revision that produced the record (absent in older records).
    #[serde(default)]
    pub revision: Option<String>,
}

/// One network of a run: its measures at initialisation and, when it was
/// trained, the training results (as written by `train` and `study`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(flatten)]
    pub network: MeasureRecord,
    #[serde(flatten)]
    pub training: Option<TrainedNetwork>,
}

impl RunRecord {
    pub fn new(
        point: &Point,
        seed: usize,
        network_seed: u64,
        sweep: &Sweep,
        measures: NetworkMeasures,
        training: Option<TrainedNetwork>,
    ) -> Self {
        let network = MeasureRecord {
            activation: point.activation.name().to_string(),
            layer: point.layer.name().to_string(),
            depth: point.config.depth,
            width: point.config.width,
            budget: point.budget,
            seed,
            run_seed: sweep.seed,
            network_seed,
            init: point.config.init.to_string(),
            grid: sweep.measure.grid,
            epsilon: sweep.measure.epsilon,
            backend: sweep.backend.to_string(),
            measures,
            version: VERSION.to_string(),
            revision: Some(REVISION.to_string()),
        };
        Self { network, training }
    }

    /// Identifies the network within a study.
    pub fn key(&self) -> NetworkKey {
        let n = &self.network;
        NetworkKey {
            budget: n.budget,
            layer: n.layer.clone(),
            activation: n.activation.clone(),
            depth: n.depth,
            seed: n.seed,
        }
    }
}

/// (budget, layer, activation, depth, seed): one network of a study.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkKey {
    pub budget: usize,
    pub layer: String,
    pub activation: String,
    pub depth: usize,
    pub seed: usize,
}

impl NetworkKey {
    /// The key of seed `seed` of a point.
    pub fn of(point: &Point, seed: usize) -> Self {
        Self {
            budget: point.budget,
            layer: point.layer.name().to_string(),
            activation: point.activation.name().to_string(),
            depth: point.config.depth,
            seed,
        }
    }

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

/// The block type of records and study files that do not name one.
pub fn default_layer() -> String {
    "dense".to_string()
}
