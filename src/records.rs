//! Result records: one JSON object per line, appended and flushed as each
//! network finishes, so an interrupted run loses nothing already measured.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::measurement::{MeasureSettings, NetworkMeasures};
use crate::sweep::Point;
use crate::training::TrainedNetwork;
use crate::VERSION;

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
        settings: &MeasureSettings,
        backend: BackendKind,
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
            run_seed: settings.seed,
            network_seed,
            init: settings.init.to_string(),
            grid: settings.grid,
            epsilon: settings.epsilon,
            backend: backend.to_string(),
            measures,
            version: VERSION.to_string(),
        };
        Self { network, training }
    }

    /// Identifies the network within a study.
    pub fn key(&self) -> NetworkKey {
        let n = &self.network;
        NetworkKey { budget: n.budget, layer: n.layer.clone(), activation: n.activation.clone(), depth: n.depth, seed: n.seed }
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
        (self.budget, self.layer.clone(), self.activation.clone(), self.depth)
    }
}

/// The block type of records and study files that do not name one.
pub fn default_layer() -> String {
    "dense".to_string()
}

/// JSON has no NaN: `serde_json` writes non-finite floats as `null`, and this
/// reads `null` back as NaN (a diverged run's accuracy, for instance).
pub fn f64_or_nan<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// Appends serialisable records to a file, one JSON line each.
pub struct JsonLines {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl JsonLines {
    /// Opens `path` for appending (creating it, not its folder).
    pub fn append(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { path: path.to_path_buf(), writer: BufWriter::new(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record and flushes it to the file.
    pub fn write<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, record)?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }
}

/// Reads every complete record of a JSON-lines file. A last line cut short by
/// an interruption is ignored; a malformed line elsewhere is an error.
pub fn read_json_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Vec<T>> {
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
    let mut records = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(_) if index + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(error) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: line {}: {error}", path.display(), index + 1),
                ))
            }
        }
    }
    Ok(records)
}
