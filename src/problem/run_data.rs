//! The data of one run: what every network of the run is measured and
//! trained on.

use serde::{Deserialize, Serialize};

use super::data::Dataset;
use super::plane::LandscapeGrid;

/// The data of a run: training and test sets, how a shipped set was split,
/// and the score of a network that learnt nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct ProblemData {
    /// The training set (also the gradient profile's and the proxies' data,
    /// and where the planes of METHOD §10 are drawn).
    pub train: Dataset,
    /// The held-out test set.
    pub test: Dataset,
    /// How a shipped data set was split; `None` for drawn sets.
    pub split: Option<SplitRecord>,
    /// Chance: ½ on the square's balanced targets, R² = 0 for a regression
    /// target, else the largest class's share of the training set.
    pub chance: f64,
    /// Where the networks' landscapes are drawn: the square, or planes
    /// through the training set (METHOD §10).
    pub landscape: LandscapeGrid,
}

/// How a shipped data set was split, in every record of a run on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// The seed of the seeded, stratified split (the run seed).
    pub seed: u64,
    /// The share of each class held out for testing.
    pub test_fraction: f64,
    /// Training samples.
    pub train: usize,
    /// Test samples.
    pub test: usize,
}

/// Why the data of a run cannot be had.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunDataError {
    /// The data set cannot be read, or the teacher cannot be drawn.
    #[error("{0}")]
    Data(String),
    /// The training set spans fewer planes than asked for.
    #[error("{0}")]
    Planes(String),
}
