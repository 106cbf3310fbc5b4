//! The real data sets shipped under `data/` (METHOD §10): read and checked
//! against what the data set is known to hold, split into training and
//! test sets (seeded, stratified) and standardised with the training set's
//! statistics only. Sources and licences are in `data/README.md`.

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;

use crate::seed::{derive_seed, host_rng};

/// The share of each class held out for testing.
pub const TEST_FRACTION: f64 = 0.25;

/// A data set shipped with the crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShippedData {
    /// UCI optical recognition of handwritten digits (Alpaydin & Kaynak
    /// 1998): 1,797 images of 8×8 pixel counts in 0..=16, classes 0–9.
    Digits,
    /// Breast Cancer Wisconsin (Diagnostic) (Wolberg, Street & Mangasarian
    /// 1995): 569 tumours, 30 features of the cell nuclei; class 0 is
    /// malignant, 1 benign.
    BreastCancer,
}

impl ShippedData {
    /// Every shipped data set, by its problem name.
    pub const ALL: [ShippedData; 2] = [ShippedData::Digits, ShippedData::BreastCancer];

    /// The problem name (`--problem digits`).
    pub fn name(self) -> &'static str {
        match self {
            ShippedData::Digits => "digits",
            ShippedData::BreastCancer => "breast-cancer",
        }
    }

    /// The file under the data directory.
    pub fn file_name(self) -> &'static str {
        match self {
            ShippedData::Digits => "digits.csv.gz",
            ShippedData::BreastCancer => "breast_cancer.csv",
        }
    }

    /// (samples, inputs, classes) the file must hold.
    pub fn shape(self) -> (usize, usize, usize) {
        match self {
            ShippedData::Digits => (1797, 64, 10),
            ShippedData::BreastCancer => (569, 30, 2),
        }
    }

    /// Reads and checks the data set from `dir` (see [`data_dir`]).
    pub fn load(self, dir: &Path) -> Result<Table, DataError> {
        let path = dir.join(self.file_name());
        let text = read_text(&path)?;
        // scikit-learn's breast-cancer file opens with a line of its own:
        // "samples,features,class names…".
        let (samples, inputs, classes) = self.shape();
        let body = match self {
            ShippedData::Digits => text.as_str(),
            ShippedData::BreastCancer => {
                let (header, rest) = text.split_once('\n').unwrap_or((&text, ""));
                let expected = format!("{samples},{inputs},malignant,benign");
                if header.trim() != expected {
                    return Err(DataError::Corrupt {
                        path,
                        reason: format!("line 1: '{header}', where the header is '{expected}'"),
                    });
                }
                rest
            }
        };
        let first_line = if body.len() < text.len() { 2 } else { 1 };
        let table = parse_table(body, first_line, inputs, classes).map_err(|reason| {
            DataError::Corrupt {
                path: path.clone(),
                reason,
            }
        })?;
        if table.len() != samples {
            return Err(DataError::Corrupt {
                path,
                reason: format!("{} samples, where the data set has {samples}", table.len()),
            });
        }
        Ok(table)
    }
}

/// The directory the shipped data sets are read from: `VARIABILITY_DATA`
/// when set, else this crate's `data/`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("VARIABILITY_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
        PathBuf::from,
    )
}

/// A data file that cannot be used, named.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file is missing or unreadable.
    #[error("{}: {source} (the data sets ship in the repository's data/; set VARIABILITY_DATA to read them elsewhere)", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold the data set it should.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where it is.
        reason: String,
    },
}

/// The file's text, decompressed when it is gzipped (`.gz`).
fn read_text(path: &Path) -> Result<String, DataError> {
    let unreadable = |source| DataError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .map_err(|e| DataError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("not a readable gzip file of text ({e})"),
            })?;
    } else {
        text = String::from_utf8(bytes).map_err(|e| DataError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("not text ({e})"),
        })?;
    }
    Ok(text)
}

/// Rows of `inputs` numbers and a class label in `0..classes`, comma
/// separated, no header; `first_line` is the file's line of the first row,
/// for the messages.
fn parse_table(
    text: &str,
    first_line: usize,
    inputs: usize,
    classes: usize,
) -> Result<Table, String> {
    if inputs == 0 || classes < 2 {
        return Err(format!(
            "a table needs inputs and two classes or more, not {inputs} and {classes}"
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        // Rows of the wrong length are ours to report, with their line.
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table = Table {
        inputs,
        classes,
        points: Vec::new(),
        labels: Vec::new(),
    };
    for row in reader.records() {
        let row = row.map_err(|e| format!("not CSV ({e})"))?;
        let line = row
            .position()
            .map_or(0, |p| p.line() as usize + first_line - 1);
        if row.len() != inputs + 1 {
            return Err(format!(
                "line {line}: {} columns, where {inputs} inputs and a label make {}",
                row.len(),
                inputs + 1
            ));
        }
        for field in row.iter().take(inputs) {
            let value: f32 = field
                .trim()
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite())
                .ok_or_else(|| format!("line {line}: '{field}' is not a finite number"))?;
            table.points.push(value);
        }
        let label = &row[inputs];
        let class = label
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|c| c.fract() == 0.0 && (0.0..classes as f64).contains(c))
            .ok_or_else(|| {
                format!(
                    "line {line}: label '{label}' is not a class 0–{}",
                    classes - 1
                )
            })?;
        table.labels.push(class as usize);
    }
    Ok(table)
}

/// Labelled samples: `points` is `[n, inputs]` row-major, `labels` in
/// `0..classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Input dimension `d`.
    pub inputs: usize,
    /// Number of classes `k`.
    pub classes: usize,
    /// The inputs, `[n, d]` row-major.
    pub points: Vec<f32>,
    /// One class per sample.
    pub labels: Vec<usize>,
}

impl Table {
    /// Number of samples `n`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the table has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &label in &self.labels {
            counts[label] += 1;
        }
        counts
    }

    /// The largest class's share of the samples: the accuracy of always
    /// predicting that class.
    pub fn largest_class_share(&self) -> f64 {
        let largest = self.class_counts().into_iter().max().unwrap_or(0);
        largest as f64 / self.len().max(1) as f64
    }

    /// The rows `rows`, in that order.
    fn rows(&self, rows: &[usize]) -> Table {
        Table {
            points: rows
                .iter()
                .flat_map(|&r| &self.points[r * self.inputs..(r + 1) * self.inputs])
                .copied()
                .collect(),
            labels: rows.iter().map(|&r| self.labels[r]).collect(),
            ..*self
        }
    }

    /// Splits the samples into training and test sets: of each class, a
    /// seeded shuffle puts `round(TEST_FRACTION × count)` samples in the
    /// test set, so both keep the classes' shares. Then both are
    /// standardised per input with the training set's mean and standard
    /// deviation (METHOD §10); an input constant on the training set is
    /// only centred.
    pub fn split(&self, seed: u64) -> Split {
        let mut rng = host_rng(derive_seed(seed, &[b"split"]));
        let (mut train_rows, mut test_rows) = (Vec::new(), Vec::new());
        for class in 0..self.classes {
            let mut rows: Vec<usize> = (0..self.len())
                .filter(|&r| self.labels[r] == class)
                .collect();
            rows.shuffle(&mut rng);
            let held_out = (TEST_FRACTION * rows.len() as f64).round() as usize;
            test_rows.extend_from_slice(&rows[..held_out]);
            train_rows.extend_from_slice(&rows[held_out..]);
        }
        train_rows.sort_unstable();
        test_rows.sort_unstable();
        let (mut train, mut test) = (self.rows(&train_rows), self.rows(&test_rows));
        let (means, stds) = train.column_statistics();
        for table in [&mut train, &mut test] {
            for row in table.points.chunks_exact_mut(self.inputs.max(1)) {
                for ((value, mean), std) in row.iter_mut().zip(&means).zip(&stds) {
                    let scale = if *std > 0.0 { *std } else { 1.0 };
                    *value = ((f64::from(*value) - mean) / scale) as f32;
                }
            }
        }
        Split {
            train,
            test,
            seed,
            test_fraction: TEST_FRACTION,
        }
    }

    /// Each input's mean and (population) standard deviation; exactly 0
    /// for an input constant on the table, whatever rounding the mean has.
    fn column_statistics(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.len().max(1) as f64;
        let column = |i: usize| self.points.iter().skip(i).step_by(self.inputs.max(1));
        let means: Vec<f64> = (0..self.inputs)
            .map(|i| column(i).map(|&v| f64::from(v)).sum::<f64>() / n)
            .collect();
        let stds = (0..self.inputs)
            .map(|i| {
                let first = column(i).next();
                if column(i).all(|v| Some(v) == first) {
                    return 0.0;
                }
                let sum: f64 = column(i).map(|&v| (f64::from(v) - means[i]).powi(2)).sum();
                (sum / n).sqrt()
            })
            .collect();
        (means, stds)
    }
}

/// A data set split for training, standardised, with how it was split.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The training set.
    pub train: Table,
    /// The held-out test set: never used for standardisation or any choice.
    pub test: Table,
    /// The seed of the split.
    pub seed: u64,
    /// The share of each class held out.
    pub test_fraction: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stable hash of the parsed values: the table's bits, in order.
    fn hash(table: &Table) -> u64 {
        let bytes: Vec<u8> = table
            .points
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .chain(table.labels.iter().flat_map(|&l| (l as u32).to_le_bytes()))
            .collect();
        derive_seed(0, &[&bytes])
    }

    #[test]
    fn digits_are_the_uci_data_set() {
        let digits = ShippedData::Digits.load(&data_dir()).unwrap();
        assert_eq!(
            (digits.len(), digits.inputs, digits.classes),
            (1797, 64, 10)
        );
        assert_eq!(
            digits.class_counts(),
            [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        assert!(digits
            .points
            .iter()
            .all(|&p| p.fract() == 0.0 && (0.0..=16.0).contains(&p)));
        assert_eq!(hash(&digits), 0xd163_cf65_1883_4858, "{:#x}", hash(&digits));
    }

    #[test]
    fn breast_cancer_is_the_wisconsin_diagnostic_data_set() {
        let cancer = ShippedData::BreastCancer.load(&data_dir()).unwrap();
        assert_eq!((cancer.len(), cancer.inputs, cancer.classes), (569, 30, 2));
        // 212 malignant (0), 357 benign (1).
        assert_eq!(cancer.class_counts(), [212, 357]);
        // The first tumour's mean radius and worst area.
        assert_eq!((cancer.points[0], cancer.points[23]), (17.99, 2019.0));
        assert_eq!(hash(&cancer), 0xf257_54ca_a70c_7717, "{:#x}", hash(&cancer));
    }

    #[test]
    fn the_split_is_stratified_seeded_and_standardised_on_training_only() {
        let digits = ShippedData::Digits.load(&data_dir()).unwrap();
        let split = digits.split(7);
        assert_eq!(split.train.len() + split.test.len(), digits.len());
        for (class, (&all, (&train, &test))) in digits
            .class_counts()
            .iter()
            .zip(
                split
                    .train
                    .class_counts()
                    .iter()
                    .zip(&split.test.class_counts()),
            )
            .enumerate()
        {
            let held_out = (TEST_FRACTION * all as f64).round() as usize;
            assert_eq!((test, train), (held_out, all - held_out), "class {class}");
        }
        assert_eq!(split, digits.split(7), "same seed, same split");
        assert_ne!(split.test.labels, digits.split(8).test.labels);
        // Standardised on the training set: mean 0 and std 1 there for
        // every input that varies, never fitted to the test set.
        let (means, stds) = split.train.column_statistics();
        for (mean, std) in means.iter().zip(&stds) {
            assert!(mean.abs() < 1e-5, "mean {mean}");
            assert!((std - 1.0).abs() < 1e-5 || *std == 0.0, "std {std}");
        }
        let (test_means, _) = split.test.column_statistics();
        assert!(test_means.iter().any(|m| m.abs() > 1e-3));
    }

    #[test]
    fn a_constant_input_is_centred_not_blown_up() {
        // 0.1 has no exact binary form: a mean summed from it is not
        // exactly 0.1, and a std from that mean would not be exactly 0.
        let table = Table {
            inputs: 2,
            classes: 2,
            points: (0..427).flat_map(|k| [0.1, k as f32]).collect(),
            labels: (0..427).map(|k| k % 2).collect(),
        };
        let split = table.split(0);
        for value in split
            .train
            .points
            .iter()
            .chain(&split.test.points)
            .step_by(2)
        {
            assert!(value.abs() < 1e-6, "{value}");
        }
    }

    #[test]
    fn a_missing_or_damaged_file_is_named() {
        let dir = std::env::temp_dir().join(format!(
            "variability-data-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let error = ShippedData::Digits.load(&dir).unwrap_err().to_string();
        assert!(
            error.contains("digits.csv.gz") && error.contains("VARIABILITY_DATA"),
            "{error}"
        );

        let original = std::fs::read_to_string(data_dir().join("breast_cancer.csv")).unwrap();
        let damaged = [
            // truncated: rows missing
            (
                original.lines().take(100).collect::<Vec<_>>().join("\n"),
                "99 samples",
            ),
            // a column dropped from one row
            (original.replacen(",0.2654,", ",", 1), "line 2: 30 columns"),
            // a row further down cut short: its own line is named
            (original.replacen(",0.1238,", ",", 1), "line 3: 30 columns"),
            (original.replacen("569,30,", "", 1), "line 1:"),
            (
                original.replacen("17.99", "x", 1),
                "'x' is not a finite number",
            ),
            (
                original.replacen(",0\n", ",2\n", 1),
                "label '2' is not a class 0–1",
            ),
        ];
        for (text, expected) in damaged {
            std::fs::write(dir.join("breast_cancer.csv"), text).unwrap();
            let error = ShippedData::BreastCancer
                .load(&dir)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("breast_cancer.csv") && error.contains(expected),
                "{error}"
            );
        }
        std::fs::write(dir.join("digits.csv.gz"), b"not gzip").unwrap();
        let error = ShippedData::Digits.load(&dir).unwrap_err().to_string();
        assert!(error.contains("not a readable gzip"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
