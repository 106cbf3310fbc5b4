//! Merging the results directories of a study's shards (`study --shard`)
//! into the one a single run would have written.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::config::{StudyConfig, StudyPlan};
use super::error::{io_error, write_file, StudyError};
use super::records::{NetworkKey, RunRecord};
use super::results::try_lock;
use super::shard::Shard;
use super::summary::StudySummary;
use crate::error::InputError;
use crate::json::read_json_lines;
use crate::nn::Registry;

/// What `merge` found and wrote.
#[derive(Debug)]
pub struct MergeReport {
    /// Shard directories merged.
    pub shards: usize,
    /// Network records written to the merged `runs.jsonl`.
    pub networks: usize,
}

/// Why a set of shards cannot be merged, or what is still missing.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A shard's results could not be read, or the merged ones written.
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
    // Held until the merge is written: no shard may run meanwhile.
    let _locks = shards
        .iter()
        .map(|(shard, path)| {
            try_lock(path)?.ok_or_else(|| {
                InputError::new(
                    "results",
                    format!("shard {shard} ({}) is still running (another process holds its .lock): wait for it to finish, then merge", path.display()),
                )
                .into()
            })
        })
        .collect::<Result<Vec<_>, StudyError>>()?;
    let (config, text) = common_config(&shards)?;
    let plan: StudyPlan = config.plan(registry, config.backend)?;
    let (records, duplicates) = union_of_records(&shards)?;
    check_complete(dir, &plan, shards[0].0.count, &records, duplicates)?;

    write_file(&dir.join("study.toml"), text.as_bytes())?;
    let mut lines = String::new();
    for record in records.values() {
        lines.push_str(&serde_json::to_string(record).expect("records serialise"));
        lines.push('\n');
    }
    write_file(&dir.join("runs.jsonl"), lines.as_bytes())?;
    copy_landscapes(dir, &shards)?;
    let all: Vec<RunRecord> = records.into_values().collect();
    StudySummary::of(&plan, &all).write(dir)?;
    Ok(MergeReport {
        shards: shards.len(),
        networks: all.len(),
    })
}

/// The study config every shard ran, and the text of its `study.toml`; an
/// error names a shard whose config differs from the first one's.
fn common_config(shards: &[(Shard, PathBuf)]) -> Result<(StudyConfig, String), MergeError> {
    let mut first: Option<(Shard, StudyConfig, String)> = None;
    for (shard, path) in shards {
        let file = path.join("study.toml");
        let text =
            fs::read_to_string(&file).map_err(io_error(format!("reading {}", file.display())))?;
        let parsed = StudyConfig::parse(&text, &file.display().to_string())?;
        match &first {
            None => first = Some((*shard, parsed, text)),
            Some((reference_shard, reference, _)) if *reference != parsed => {
                return Err(InputError::new(
                    "results",
                    format!("shard {shard} ({}) ran a different study config from shard {reference_shard}: rerun it with the same file", path.display()),
                )
                .into());
            }
            Some(_) => {}
        }
    }
    let (_, config, text) = first.expect("at least one shard");
    Ok((config, text))
}

/// Every shard's records by network, and how many networks came twice.
fn union_of_records(
    shards: &[(Shard, PathBuf)],
) -> Result<(BTreeMap<NetworkKey, RunRecord>, usize), StudyError> {
    let mut records = BTreeMap::new();
    let mut duplicates = 0;
    for (_, path) in shards {
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
    Ok((records, duplicates))
}

/// Refuses a merge with a network missing (naming the shard that owns it),
/// a network twice, or a record of no network of the plan.
fn check_complete(
    dir: &Path,
    plan: &StudyPlan,
    count: usize,
    records: &BTreeMap<NetworkKey, RunRecord>,
    duplicates: usize,
) -> Result<(), MergeError> {
    let owners = plan.sweep.partition(count);
    let mut missing: BTreeMap<usize, usize> = BTreeMap::new();
    let mut expected = HashSet::new();
    let sweep = &plan.sweep;
    let settings = sweep.settings();
    for (point, owners) in sweep.points.iter().zip(&owners) {
        for (seed, &owner) in owners.iter().enumerate() {
            // A trained seed has one record per setting; another, one.
            let keys: Vec<NetworkKey> = if seed < sweep.trained_seeds() {
                settings.iter().map(|&s| point.key(seed, Some(s))).collect()
            } else {
                vec![point.key(seed, None)]
            };
            for key in keys {
                if !records.contains_key(&key) {
                    *missing.entry(owner).or_default() += 1;
                }
                expected.insert(key);
            }
        }
    }
    let strays = records
        .keys()
        .filter(|key| !expected.contains(*key))
        .count();
    if missing.is_empty() && duplicates == 0 && strays == 0 {
        return Ok(());
    }
    let mut message = format!("'{}': cannot merge; nothing was written.", dir.display());
    for (index, n) in missing {
        let shard = Shard { index, count };
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
    Err(MergeError::Incomplete(message))
}

/// Copies every shard's landscape files into `DIR/landscapes`.
fn copy_landscapes(dir: &Path, shards: &[(Shard, PathBuf)]) -> Result<(), StudyError> {
    let landscapes = dir.join("landscapes");
    fs::create_dir_all(&landscapes)
        .map_err(io_error(format!("creating {}", landscapes.display())))?;
    for (_, path) in shards {
        let Ok(entries) = fs::read_dir(path.join("landscapes")) else {
            continue;
        };
        for entry in entries.flatten() {
            let target = landscapes.join(entry.file_name());
            fs::copy(entry.path(), &target)
                .map_err(io_error(format!("copying {}", entry.path().display())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partition of a real study: every network once, balanced.
    #[test]
    fn the_partition_covers_every_network_once_and_balances_cost() {
        let file = include_str!("../../experiments/quick.toml");
        let config = StudyConfig::parse(file, "quick.toml").unwrap();
        let plan = config.plan(&Registry::builtin(), None).unwrap();
        let sweep = &plan.sweep;
        for count in [1, 2, 3, 7] {
            let owners = sweep.partition(count);
            assert_eq!(owners, sweep.partition(count), "deterministic");
            let mut load = vec![0.0; count];
            let mut most = 0.0f64;
            for (point, seeds) in owners.iter().enumerate() {
                assert_eq!(seeds.len(), sweep.networks_per_point());
                for (seed, &shard) in seeds.iter().enumerate() {
                    assert!(shard < count);
                    let cost = sweep.network_cost(point, seed < sweep.train_seeds);
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
