//! Sharding a study over many processes (a Slurm job array, GNU parallel,
//! a Kubernetes Indexed Job): a deterministic partition of its networks,
//! balanced by estimated cost, and the merge of the shards' results
//! directories into the one a single run would have written.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::config::{StudyConfig, StudyPlan};
use super::records::{NetworkKey, RunRecord};
use super::results::write_file;
use super::summary::StudySummary;
use super::sweep::Sweep;
use super::{io_error, StudyError};
use crate::error::InputError;
use crate::json::read_json_lines;
use crate::nn::Registry;

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// The forms `--shard` accepts.
pub const SHARD_FORMS: &str =
    "i/n with 0 ≤ i < n (e.g. 0/3), or slurm (SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT)";

impl Shard {
    /// Parses `i/n`, or `slurm`: the task's place in its job array
    /// (`SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN` of
    /// `SLURM_ARRAY_TASK_COUNT`), read through `env`.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        let error = |message: String| {
            InputError::new("--shard", format!("{message}; allowed: {SHARD_FORMS}"))
        };
        if text == "slurm" {
            let number = |name: &str| -> Result<usize, InputError> {
                let value = env(name).ok_or_else(|| {
                    error(format!(
                        "slurm: {name} is not set (is this a job array task?)"
                    ))
                })?;
                value
                    .trim()
                    .parse()
                    .map_err(|_| error(format!("slurm: {name} is '{value}', not a whole number")))
            };
            let (id, count) = (
                number("SLURM_ARRAY_TASK_ID")?,
                number("SLURM_ARRAY_TASK_COUNT")?,
            );
            let min = if env("SLURM_ARRAY_TASK_MIN").is_some() {
                number("SLURM_ARRAY_TASK_MIN")?
            } else {
                0
            };
            return Self::new(
                id.checked_sub(min).ok_or_else(|| {
                    error(format!(
                        "slurm: task {id} is below the array's minimum {min}"
                    ))
                })?,
                count,
            );
        }
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| error(format!("'{text}'")))?;
        let whole = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| error(format!("'{text}': '{part}' is not a whole number")))
        };
        Self::new(whole(index)?, whole(count)?)
    }

    fn new(index: usize, count: usize) -> Result<Self, InputError> {
        if count == 0 || index >= count {
            return Err(InputError::new(
                "--shard",
                format!("{index}/{count}: needs 0 ≤ i < n; allowed: {SHARD_FORMS}"),
            ));
        }
        Ok(Self { index, count })
    }

    /// The shard's results directory under the study's: `DIR/shards/i-of-n`.
    pub fn dir(&self, study_dir: &Path) -> PathBuf {
        study_dir
            .join("shards")
            .join(self.to_string().replace('/', "-of-"))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Relative cost of one network of a point: a pass over the grid and the
/// training set to measure it, and `steps` forward and backward passes
/// (~3 passes each) over the training set to train it — all ∝ parameters.
fn estimated_cost(sweep: &Sweep, point: usize, trained: bool) -> f64 {
    let params = sweep.points[point].params() as f64;
    let grid = (sweep.measure.grid * sweep.measure.grid) as f64;
    let data = sweep.problem.train_size as f64;
    let steps = sweep.train.as_ref().map_or(0, |t| t.steps) as f64;
    params * (grid + data + if trained { 3.0 * steps * data } else { 0.0 })
}

/// The shard of every network of the sweep, `[point][seed]`: the longest
/// networks first, each to the shard with the least work so far (ties: the
/// lowest index, so the partition depends on nothing but the sweep).
pub fn partition(sweep: &Sweep, count: usize) -> Vec<Vec<usize>> {
    let networks = sweep.networks_per_point();
    let train_seeds = if sweep.train.is_some() {
        sweep.train_seeds
    } else {
        0
    };
    let mut units: Vec<(f64, usize, usize)> = (0..sweep.points.len())
        .flat_map(|point| (0..networks).map(move |seed| (point, seed)))
        .map(|(point, seed)| {
            (
                estimated_cost(sweep, point, seed < train_seeds),
                point,
                seed,
            )
        })
        .collect();
    units.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut load = vec![0.0f64; count.max(1)];
    let mut shards = vec![vec![0; networks]; sweep.points.len()];
    for (cost, point, seed) in units {
        let lightest = (0..load.len())
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .expect("one shard at least");
        load[lightest] += cost;
        shards[point][seed] = lightest;
    }
    shards
}

/// What `merge` found and wrote.
#[derive(Debug)]
pub struct MergeReport {
    pub shards: usize,
    pub networks: usize,
    /// Networks that are in no shard yet: (shard, how many).
    pub missing: Vec<(Shard, usize)>,
    /// Networks present in more than one shard (or twice in one).
    pub duplicates: usize,
}

/// Why a set of shards cannot be merged, or what is still missing.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Study(#[from] StudyError),
    /// Not every network is in: what is missing, per shard. Nothing was written.
    #[error("{0}")]
    Incomplete(String),
}

impl From<InputError> for MergeError {
    fn from(error: InputError) -> Self {
        MergeError::Study(error.into())
    }
}

/// The shard directories `DIR/shards/i-of-n`, all of one `n`.
fn shard_dirs(dir: &Path) -> Result<Vec<(Shard, PathBuf)>, InputError> {
    let shards_dir = dir.join("shards");
    let entries = fs::read_dir(&shards_dir).map_err(|e| {
        InputError::new(
            "results",
            format!(
                "'{}' has no shards ({e}); run `variability study FILE --shard i/n --out {}` first",
                shards_dir.display(),
                dir.display()
            ),
        )
    })?;
    let mut shards = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((index, count)) = name.split_once("-of-") else {
            continue;
        };
        if let (Ok(index), Ok(count)) = (index.parse(), count.parse()) {
            shards.push((Shard { index, count }, entry.path()));
        }
    }
    shards.sort_by_key(|(s, _)| (s.count, s.index));
    let counts: HashSet<usize> = shards.iter().map(|(s, _)| s.count).collect();
    if counts.len() > 1 {
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_unstable();
        return Err(InputError::new(
            "results",
            format!(
                "'{}' mixes shards of {counts:?} ways: merge one partition at a time",
                shards_dir.display()
            ),
        ));
    }
    if shards.is_empty() {
        return Err(InputError::new(
            "results",
            format!(
                "'{}' holds no i-of-n shard directories",
                shards_dir.display()
            ),
        ));
    }
    Ok(shards)
}

/// Merges `DIR/shards/*` into `DIR`: checks that every shard ran the same
/// resolved config, unions the records, and writes `study.toml`,
/// `runs.jsonl` (sorted by network), the landscapes and the summaries
/// exactly as a single run would. An incomplete or inconsistent set writes
/// nothing and says what is missing or which shard differs.
pub fn merge_shards(dir: &Path, registry: &Registry) -> Result<MergeReport, MergeError> {
    let shards = shard_dirs(dir)?;
    let count = shards[0].0.count;
    // The configs: every shard's must equal the first one's.
    let mut config: Option<(Shard, StudyConfig, String)> = None;
    for (shard, path) in &shards {
        let file = path.join("study.toml");
        let text =
            fs::read_to_string(&file).map_err(io_error(format!("reading {}", file.display())))?;
        let parsed = StudyConfig::parse(&text, &file.display().to_string())?;
        match &config {
            None => config = Some((*shard, parsed, text)),
            Some((first, reference, _)) if *reference != parsed => {
                return Err(InputError::new(
                    "results",
                    format!("shard {shard} ({}) ran a different study config from shard {first}: rerun it with the same file", path.display()),
                )
                .into());
            }
            Some(_) => {}
        }
    }
    let (_, config, text) = config.expect("at least one shard");
    let plan: StudyPlan = config.plan(registry, config.backend)?;
    let owners = partition(&plan.sweep, count);

    let mut records: BTreeMap<NetworkKey, RunRecord> = BTreeMap::new();
    let mut duplicates = 0;
    for (_, path) in &shards {
        let runs = path.join("runs.jsonl");
        if !runs.exists() {
            continue;
        }
        let shard_records: Vec<RunRecord> =
            read_json_lines(&runs).map_err(io_error(format!("reading {}", runs.display())))?;
        for record in shard_records {
            if records.insert(record.key(), record).is_some() {
                duplicates += 1;
            }
        }
    }
    // What the plan expects, and whose each missing network is.
    let mut missing: BTreeMap<usize, usize> = BTreeMap::new();
    let mut expected = HashSet::new();
    for (index, point) in plan.sweep.points.iter().enumerate() {
        for seed in 0..plan.sweep.networks_per_point() {
            let key = NetworkKey::of(point, seed);
            let done = records
                .get(&key)
                .is_some_and(|r| seed >= plan.sweep.train_seeds || r.training.is_some());
            if !done {
                *missing.entry(owners[index][seed]).or_default() += 1;
            }
            expected.insert(key);
        }
    }
    let missing: Vec<(Shard, usize)> = missing
        .into_iter()
        .map(|(index, n)| (Shard { index, count }, n))
        .collect();
    let strays = records
        .keys()
        .filter(|key| !expected.contains(*key))
        .count();
    if !missing.is_empty() || duplicates > 0 || strays > 0 {
        let mut message = format!("'{}': cannot merge; nothing was written.", dir.display());
        for (shard, n) in &missing {
            message += &format!(
                "\n  shard {shard} is missing {n} network(s) ({})",
                shard.dir(dir).display()
            );
        }
        if duplicates > 0 {
            message += &format!("\n  {duplicates} network(s) appear in more than one shard");
        }
        if strays > 0 {
            message += &format!("\n  {strays} record(s) belong to no network of the study");
        }
        return Err(MergeError::Incomplete(message));
    }

    write_file(&dir.join("study.toml"), text.as_bytes())?;
    let mut lines = String::new();
    for record in records.values() {
        lines.push_str(&serde_json::to_string(record).expect("records serialise"));
        lines.push('\n');
    }
    write_file(&dir.join("runs.jsonl"), lines.as_bytes())?;
    let landscapes = dir.join("landscapes");
    fs::create_dir_all(&landscapes)
        .map_err(io_error(format!("creating {}", landscapes.display())))?;
    for (_, path) in &shards {
        let Ok(entries) = fs::read_dir(path.join("landscapes")) else {
            continue;
        };
        for entry in entries.flatten() {
            let target = landscapes.join(entry.file_name());
            fs::copy(entry.path(), &target)
                .map_err(io_error(format!("copying {}", entry.path().display())))?;
        }
    }
    let all: Vec<RunRecord> = records.into_values().collect();
    StudySummary::of(&plan, &all).write(dir)?;
    Ok(MergeReport {
        shards: shards.len(),
        networks: all.len(),
        missing,
        duplicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_parse_from_text_and_from_slurm() {
        assert_eq!(
            Shard::parse("1/3", env(&[])).unwrap(),
            Shard { index: 1, count: 3 }
        );
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
        ];
        assert_eq!(
            Shard::parse("slurm", env(&slurm)).unwrap(),
            Shard { index: 1, count: 3 }
        );
        for bad in ["3/3", "0/0", "a/2", "2", "-1/2"] {
            let error = Shard::parse(bad, env(&[])).unwrap_err();
            assert!(
                error.field == "--shard" && error.message.contains("i/n"),
                "{bad}: {error}"
            );
        }
        assert!(Shard::parse("slurm", env(&[]))
            .unwrap_err()
            .message
            .contains("SLURM_ARRAY_TASK_ID"));
        assert_eq!(
            Shard { index: 2, count: 5 }.dir(Path::new("r")),
            Path::new("r/shards/2-of-5")
        );
    }

    #[test]
    fn the_partition_covers_every_network_once_and_balances_cost() {
        let file = include_str!("../../experiments/quick.toml");
        let config = StudyConfig::parse(file, "quick.toml").unwrap();
        let plan = config.plan(&Registry::builtin(), None).unwrap();
        let sweep = &plan.sweep;
        for count in [1, 2, 3, 7] {
            let owners = partition(sweep, count);
            assert_eq!(owners, partition(sweep, count), "deterministic");
            let mut load = vec![0.0; count];
            let mut most = 0.0f64;
            for (point, seeds) in owners.iter().enumerate() {
                assert_eq!(seeds.len(), sweep.networks_per_point());
                for (seed, &shard) in seeds.iter().enumerate() {
                    assert!(shard < count);
                    let cost = estimated_cost(sweep, point, seed < sweep.train_seeds);
                    load[shard] += cost;
                    most = most.max(cost);
                }
            }
            // Greedy longest-first: no shard exceeds the lightest by more than one network.
            let (low, high) = load
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
            assert!(
                high - low <= most * (1.0 + 1e-9),
                "{count} shards: {load:?}"
            );
        }
    }
}
