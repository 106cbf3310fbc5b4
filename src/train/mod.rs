//! Training on the model problem (METHOD §4): Adam (or SGD with momentum,
//! METHOD §9) on an ensemble, each member following the path it would
//! follow alone, and what each trained network records.

mod fused;
pub mod trainer;

pub use trainer::{
    AdamConfig, DataRecord, OptimizerKind, OptimizerRecord, Setting, TrackedStep, TrainConfig,
    TrainedEnsemble, TrainedNetwork, Trainer, CHANCE_ACCURACY,
};
