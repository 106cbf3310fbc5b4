//! Studies (METHOD §5): configuration and its one checker, the sweep over
//! worker threads, result records, the resumable results directory, the
//! summaries, and shards of a study merged back into one.

pub mod config;
pub mod error;
pub mod interrupt;
pub mod merge;
pub mod progress;
pub mod records;
pub mod results;
pub mod shard;
pub mod summary;
pub mod sweep;

pub use config::{ModelConfig, RunConfig, StudyConfig, StudyPlan};
pub use error::{write_file, StudyError};
pub use merge::{merge_shards, MergeError, MergeReport};
pub use progress::{duration, remaining_seconds, Progress, ProgressMode};
pub use records::{MeasureRecord, NetworkKey, RunRecord, SettingKey};
// What a training record holds, named here so the report reads records
// through the study alone.
pub use crate::train::{OptimizerKind, Setting, TrackedStep, TrainedNetwork};
pub use results::{landscape_file_name, run_study, ResultsDir};
pub use shard::Shard;
pub use summary::{Correlation, PointSummary, StudySummary};
pub use sweep::{
    Landscape, Point, Sweep, Task, TaskList, TaskOutput, GRID_RATE, MEASURE_EXTRA_DOUBLING,
    MEASURE_EXTRA_POINTS, MEASURE_RATE, TRAIN_CHUNKS_RATE, TRAIN_RATE, UNIT_OVERHEAD,
};
