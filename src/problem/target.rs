//! The model problems, each named with its parameters like a parametric
//! activation. On the square `[-1, 1]²`: `checkerboard:c` (METHOD §4, the
//! default), `spirals:t` and `rings:k` (METHOD §8), all binary, and the
//! smooth regression target `sines:k` (METHOD §8), trained with MSE and
//! scored by R² instead of accuracy. Beyond the plane (METHOD §10): the
//! shipped data sets `digits` and `breast-cancer`, and `teacher:d[:w:L]`.

use std::f64::consts::{PI, SQRT_2};
use std::fmt;

use rand::RngExt;

use super::checkerboard::Checkerboard;
use super::data::{Dataset, CHANCE_ACCURACY, INPUT_DIM};
use super::plane::LandscapeGrid;
use super::run_data::{ProblemData, RunDataError, SplitRecord};
use super::shipped::{data_dir, ShippedData, TEST_FRACTION};
use super::teacher::Teacher;
use crate::seed::{derive_seed, host_rng};

/// The forms `--problem` and `train.problem` accept.
pub const PROBLEM_FORMS: &str = "checkerboard, checkerboard:c, spirals:t, rings:k, sines:k, digits, breast-cancer, teacher:d, teacher:d:w:L";

/// Teacher parameters (`d·w + (L − 1)·w²`) above this are refused: the
/// teacher labels every point on the host.
const MAX_TEACHER_PARAMS: usize = 10_000_000;

/// A problem: a labelling of the square, a shipped data set, or a teacher
/// network on `[−1, 1]^d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// A labelling of the square `[−1, 1]²`.
    Square(SquareTarget),
    /// A data set shipped under `data/`.
    Shipped(ShippedData),
    /// Labels from a random teacher network (see [`Teacher`]).
    Teacher {
        /// Input dimension `d`.
        inputs: usize,
        /// The teacher's hidden width `w`.
        width: usize,
        /// The teacher's hidden layers `L`.
        depth: usize,
    },
}

/// A labelling of the square: binary, or a smooth regression target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SquareTarget {
    /// `c × c` alternating cells.
    Checkerboard(Checkerboard),
    /// Two interleaved spiral arms winding `turns` times from the centre to
    /// radius 1: the label is the parity of the half-turn band of the phase
    /// `turns·r − θ/2π` a point lies in.
    Spirals {
        /// Turns of each spiral arm.
        turns: f64,
    },
    /// `count` concentric rings of width `1/count`, alternating labels
    /// (continued into the corners beyond radius 1).
    Rings {
        /// Number of rings.
        count: usize,
    },
    /// `t(x, y) = sin(kπx)·sin(kπy)`, a smooth target in `[−1, 1]`. Its
    /// label is stored as `(t + 1)/2`, so MSE's target `2·label − 1` is `t`
    /// exactly as it is `±1` for a binary label.
    Sines {
        /// `k`, the sines' frequency.
        frequency: f64,
    },
}

impl Target {
    /// Parses `name[:parameter]`; `cells` is the checkerboard's size when
    /// its name carries none. The error names the allowed forms.
    pub fn parse(name: &str, cells: usize) -> Result<Self, String> {
        let (family, parameter) = match name.split_once(':') {
            Some((family, parameter)) => (family, Some(parameter)),
            None => (name, None),
        };
        let number = |what: &str| -> Result<f64, String> {
            let text = parameter.ok_or_else(|| {
                format!("'{name}' needs {what}: use {family}:N; allowed: {PROBLEM_FORMS}")
            })?;
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("'{name}': {what} must be a positive number, got '{text}'; allowed: {PROBLEM_FORMS}"))
        };
        let whole = |what: &str| -> Result<usize, String> {
            let value = number(what)?;
            if value.fract() != 0.0 || value > 1e6 {
                return Err(format!("'{name}': {what} must be a whole number up to 1000000; allowed: {PROBLEM_FORMS}"));
            }
            Ok(value as usize)
        };
        let square = match family {
            "checkerboard" if parameter.is_none() => {
                SquareTarget::Checkerboard(Checkerboard { cells })
            }
            "checkerboard" => SquareTarget::Checkerboard(Checkerboard {
                cells: whole("the cells per side")?,
            }),
            "spirals" => SquareTarget::Spirals {
                turns: number("the number of turns")?,
            },
            "rings" => SquareTarget::Rings {
                count: whole("the number of rings")?,
            },
            "sines" => SquareTarget::Sines {
                frequency: number("the frequency")?,
            },
            "teacher" => return Self::parse_teacher(name, parameter),
            _ => {
                return match ShippedData::ALL
                    .into_iter()
                    .find(|d| d.name() == name.trim())
                {
                    Some(data) => Ok(Target::Shipped(data)),
                    None if ShippedData::ALL.iter().any(|d| d.name() == family) => Err(format!(
                        "'{name}': {family} takes no parameter; allowed: {PROBLEM_FORMS}"
                    )),
                    None => Err(format!(
                        "unknown problem '{name}'; allowed: {PROBLEM_FORMS}"
                    )),
                }
            }
        };
        Ok(Target::Square(square))
    }

    /// `teacher:d` or `teacher:d:w:L`, each a whole number of 1 or more.
    fn parse_teacher(name: &str, parameters: Option<&str>) -> Result<Self, String> {
        let wrong = |why: &str| {
            format!("'{name}': {why}; use teacher:d or teacher:d:w:L (input dimension, width, depth, each a whole number of 1 or more); allowed: {PROBLEM_FORMS}")
        };
        let values = parameters
            .ok_or_else(|| wrong("give the input dimension"))?
            .split(':')
            .map(|text| {
                text.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&v| (1..=1_000_000).contains(&v))
                    .ok_or_else(|| {
                        wrong(&format!("'{text}' is not a whole number from 1 to 1000000"))
                    })
            })
            .collect::<Result<Vec<usize>, String>>()?;
        let (inputs, width, depth) = match values[..] {
            [inputs] => (inputs, Teacher::DEFAULT_WIDTH, Teacher::DEFAULT_DEPTH),
            [inputs, width, depth] => (inputs, width, depth),
            _ => return Err(wrong(&format!("{} numbers given", values.len()))),
        };
        // One input spans no plane to draw a landscape on.
        if inputs < 2 {
            return Err(wrong("the input dimension must be 2 or more"));
        }
        let params = inputs
            .saturating_mul(width)
            .saturating_add((depth - 1).saturating_mul(width.saturating_mul(width)));
        if params > MAX_TEACHER_PARAMS {
            return Err(wrong(&format!(
                "the teacher would have {params} weights, more than {MAX_TEACHER_PARAMS}"
            )));
        }
        Ok(Target::Teacher {
            inputs,
            width,
            depth,
        })
    }

    /// A regression target (MSE, R²) rather than a binary one.
    pub fn is_regression(&self) -> bool {
        matches!(self, Target::Square(SquareTarget::Sines { .. }))
    }

    /// The input dimension `d`.
    pub fn inputs(&self) -> usize {
        match *self {
            Target::Square(_) => INPUT_DIM,
            Target::Shipped(data) => data.shape().1,
            Target::Teacher { inputs, .. } => inputs,
        }
    }

    /// The number of classes (2 for a binary or a regression target).
    pub fn classes(&self) -> usize {
        match *self {
            Target::Shipped(data) => data.shape().2,
            Target::Square(_) | Target::Teacher { .. } => 2,
        }
    }

    /// The sizes of the training and test sets a run draws or splits: a
    /// shipped set's split (of each class, a quarter held out) decides its
    /// own; a drawn set has the sizes asked for.
    pub fn set_sizes(&self, train_size: usize, test_size: usize) -> [usize; 2] {
        match *self {
            Target::Shipped(data) => {
                let samples = data.shape().0;
                let test = (TEST_FRACTION * samples as f64).round() as usize;
                [samples - test, test]
            }
            _ => [train_size, test_size],
        }
    }

    /// Whether landscapes are drawn on the input square itself (METHOD §3)
    /// rather than on planes through the data (METHOD §10).
    pub fn draws_on_square(&self) -> bool {
        self.inputs() == INPUT_DIM
    }

    /// The data of a run, the same for every network of the run so that
    /// architectures are compared on the same data: the training and test
    /// sets (`train_size` and `test_size` size drawn sets; a shipped set's
    /// split decides its own), how a shipped set was split, and the
    /// landscape: the `grid`² square, or `planes` planes through the
    /// training set when it has more than two inputs.
    pub fn data(
        &self,
        [train_size, test_size]: [usize; 2],
        [grid, planes]: [usize; 2],
        run_seed: u64,
    ) -> Result<ProblemData, RunDataError> {
        let set_seed = |set: &[u8]| derive_seed(run_seed, &[set]);
        // Chance: the square's binary targets are balanced by construction,
        // so it stays ½ there, as it always was; elsewhere it is the largest
        // class's share of the training set.
        let (train, test, split, chance) = match *self {
            Target::Square(square) => (
                square.sample(train_size, set_seed(b"training-set")),
                square.sample(test_size, set_seed(b"test-set")),
                None,
                if self.is_regression() {
                    0.0
                } else {
                    CHANCE_ACCURACY
                },
            ),
            Target::Shipped(data) => {
                let table = data
                    .load(&data_dir())
                    .map_err(|error| RunDataError::Data(error.to_string()))?;
                let split = table.split(run_seed);
                let record = SplitRecord {
                    seed: split.seed,
                    test_fraction: split.test_fraction,
                    train: split.train.len(),
                    test: split.test.len(),
                };
                let chance = split.train.largest_class_share();
                (
                    Dataset::from(split.train),
                    Dataset::from(split.test),
                    Some(record),
                    chance,
                )
            }
            Target::Teacher {
                inputs,
                width,
                depth,
            } => {
                let teacher =
                    Teacher::new(inputs, width, depth, run_seed).map_err(RunDataError::Data)?;
                let train = teacher.table(train_size, set_seed(b"training-set"));
                let chance = train.largest_class_share();
                (
                    Dataset::from(train),
                    Dataset::from(teacher.table(test_size, set_seed(b"test-set"))),
                    None,
                    chance,
                )
            }
        };
        let landscape = LandscapeGrid::for_data(&train, grid, planes, run_seed)
            .map_err(RunDataError::Planes)?;
        Ok(ProblemData {
            train,
            test,
            split,
            chance,
            landscape,
        })
    }
}

impl SquareTarget {
    /// The label of a point: 0 or 1, or `(t + 1)/2` for a regression target.
    pub fn label(&self, x1: f32, x2: f32) -> f32 {
        let (x, y) = (x1 as f64, x2 as f64);
        let radius = x.hypot(y);
        let parity = |band: f64| band.floor().rem_euclid(2.0) as f32;
        match *self {
            SquareTarget::Checkerboard(board) => board.label(x1, x2),
            SquareTarget::Spirals { turns } => {
                parity(2.0 * (turns * radius - y.atan2(x) / (2.0 * PI)))
            }
            SquareTarget::Rings { count } => {
                parity((count as f64 * radius).min(count as f64 * SQRT_2))
            }
            SquareTarget::Sines { frequency } => {
                (((frequency * PI * x).sin() * (frequency * PI * y).sin() + 1.0) / 2.0) as f32
            }
        }
    }

    /// `n` points uniform on the domain, labelled, drawn from `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Dataset {
        let mut rng = host_rng(seed);
        let mut points = Vec::with_capacity(n * INPUT_DIM);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let x1 = rng.random_range(-1.0f32..=1.0);
            let x2 = rng.random_range(-1.0f32..=1.0);
            points.extend([x1, x2]);
            labels.push(self.label(x1, x2));
        }
        Dataset {
            inputs: INPUT_DIM,
            classes: 2,
            points,
            labels,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Square(SquareTarget::Checkerboard(board)) => {
                write!(f, "checkerboard:{}", board.cells)
            }
            Target::Square(SquareTarget::Spirals { turns }) => write!(f, "spirals:{turns}"),
            Target::Square(SquareTarget::Rings { count }) => write!(f, "rings:{count}"),
            Target::Square(SquareTarget::Sines { frequency }) => write!(f, "sines:{frequency}"),
            Target::Shipped(data) => f.write_str(data.name()),
            Target::Teacher {
                inputs,
                width,
                depth,
            } => write!(f, "teacher:{inputs}:{width}:{depth}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bad_parameters_name_the_forms() {
        assert_eq!(
            Target::parse("checkerboard", 8),
            Ok(Target::Square(SquareTarget::Checkerboard(Checkerboard {
                cells: 8
            })))
        );
        assert_eq!(
            Target::parse("checkerboard:4", 8),
            Ok(Target::Square(SquareTarget::Checkerboard(Checkerboard {
                cells: 4
            })))
        );
        assert_eq!(
            Target::parse("spirals:1.5", 8),
            Ok(Target::Square(SquareTarget::Spirals { turns: 1.5 }))
        );
        assert_eq!(
            Target::parse("rings:4", 8),
            Ok(Target::Square(SquareTarget::Rings { count: 4 }))
        );
        assert_eq!(
            Target::parse("sines:4", 8),
            Ok(Target::Square(SquareTarget::Sines { frequency: 4.0 }))
        );
        assert!(
            Target::parse("sines:4", 8).unwrap().is_regression()
                && !Target::parse("rings:4", 8).unwrap().is_regression()
        );
        for bad in [
            "spirals",
            "spirals:x",
            "rings:0",
            "rings:2.5",
            "checkerboard:-1",
            "moons:2",
            "sines:nan",
            "digits:3",
            "teacher",
            "teacher:0",
            "teacher:8:32",
            "teacher:8:0:3",
            "teacher:x",
            "teacher:1000:100000:3",
            "teacher:1",
        ] {
            let error = Target::parse(bad, 8).unwrap_err();
            assert!(
                error.contains("spirals:t") && error.contains(bad),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn rings_and_spirals_label_by_hand() {
        let rings = SquareTarget::Rings { count: 4 };
        // Radius 0.1 is in ring 0, 0.3 in ring 1, 0.6 in ring 2.
        assert_eq!(
            (
                rings.label(0.1, 0.0),
                rings.label(0.0, -0.3),
                rings.label(0.6, 0.0)
            ),
            (0.0, 1.0, 0.0)
        );
        let spirals = SquareTarget::Spirals { turns: 1.0 };
        // On the positive x axis θ = 0, so the phase is r: bands [0, ½) and [½, 1).
        assert_eq!(
            (spirals.label(0.2, 0.0), spirals.label(0.7, 0.0)),
            (0.0, 1.0)
        );
        // A quarter turn on, the band boundary moves out by a quarter: at θ = π/2
        // the phase is r − ¼, so r = 0.7 is in band [0, ½) again.
        assert_eq!(spirals.label(0.0, 0.7), 0.0);
        // The two arms are mirror images under a half turn (x ↦ −x): phase shifts by ½.
        assert_eq!(spirals.label(-0.2, -0.0001), 1.0);
    }

    #[test]
    fn the_sines_label_encodes_the_target_for_mse() {
        let sines = SquareTarget::Sines { frequency: 4.0 };
        // sin(4π·⅛)·sin(4π·⅛) = 1; at x = ¼ the first factor is sin(π) = 0.
        assert!((2.0 * sines.label(0.125, 0.125) - 1.0 - 1.0).abs() < 1e-6);
        assert!((2.0 * sines.label(0.25, 0.6) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_problems_beyond_the_plane_parse_with_their_shapes() {
        let digits = Target::parse("digits", 8).unwrap();
        assert_eq!((digits.inputs(), digits.classes()), (64, 10));
        let cancer = Target::parse("breast-cancer", 8).unwrap();
        assert_eq!((cancer.inputs(), cancer.classes()), (30, 2));
        let teacher = Target::parse("teacher:16", 8).unwrap();
        assert_eq!(
            teacher,
            Target::Teacher {
                inputs: 16,
                width: Teacher::DEFAULT_WIDTH,
                depth: Teacher::DEFAULT_DEPTH
            }
        );
        assert_eq!(teacher.to_string(), "teacher:16:32:3");
        assert_eq!(Target::parse(&teacher.to_string(), 8), Ok(teacher));
        assert!(!teacher.draws_on_square() && !digits.draws_on_square());
        assert!(Target::parse("teacher:2:8:2", 8).unwrap().draws_on_square());
    }

    #[test]
    fn every_problem_is_roughly_balanced() {
        for name in ["checkerboard", "spirals:3", "rings:4", "teacher:8"] {
            let target = Target::parse(name, 8).unwrap();
            let data = target.data([4000, 10], [5, 1], 5).unwrap();
            let ones = data.train.labels.iter().sum::<f32>() / 4000.0;
            assert!((ones - 0.5).abs() < 0.1, "{name}: fraction of ones {ones}");
        }
    }

    #[test]
    fn datasets_are_reproducible_and_balanced() {
        let board = Target::Square(SquareTarget::Checkerboard(Checkerboard::default()));
        let data = board.data([2000, 2000], [5, 1], 3).unwrap();
        assert_eq!(
            data.train,
            board.data([2000, 2000], [5, 1], 3).unwrap().train
        );
        assert_ne!(data.train, data.test);
        assert_eq!(data.chance, CHANCE_ACCURACY);
        let ones = data.train.labels.iter().sum::<f32>() / 2000.0;
        assert!((ones - 0.5).abs() < 0.05, "fraction of ones {ones}");
    }

    #[test]
    fn a_shipped_set_is_split_and_its_chance_is_its_largest_class() {
        let data = Target::Shipped(ShippedData::BreastCancer)
            .data([1, 1], [5, 2], 0)
            .unwrap();
        assert_eq!(data.landscape.sections(), 2);
        let split = data.split.unwrap();
        assert_eq!(
            (split.train, split.test),
            (data.train.len(), data.test.len())
        );
        assert_eq!(split.train + split.test, 569);
        // 357 of 569 tumours are benign; 268 of them stay in training.
        assert_eq!(data.chance, 268.0 / 427.0);
        assert_eq!((data.train.inputs, data.train.classes), (30, 2));
    }
}
