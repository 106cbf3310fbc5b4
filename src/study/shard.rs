//! Sharding a study over many processes (a Slurm job array, GNU parallel,
//! a Kubernetes Indexed Job): which shard a process is, and a deterministic
//! partition of the networks balanced by estimated cost. `merge.rs` joins
//! the shards' results directories back into one.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::InputError;

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard's place, from 0.
    pub index: usize,
    /// Number of shards.
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

/// The shard of every network, `[point][seed]`, from each network's
/// estimated cost (`costs[point][seed]`): the costliest networks first,
/// each to the shard with the least work so far (ties: the lowest index, so
/// the partition depends on nothing but the costs).
pub fn partition(costs: &[Vec<f64>], count: usize) -> Vec<Vec<usize>> {
    let mut units: Vec<(f64, usize, usize)> = costs
        .iter()
        .enumerate()
        .flat_map(|(point, seeds)| {
            seeds
                .iter()
                .enumerate()
                .map(move |(seed, &cost)| (cost, point, seed))
        })
        .collect();
    units.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut load = vec![0.0f64; count.max(1)];
    let mut shards: Vec<Vec<usize>> = costs.iter().map(|seeds| vec![0; seeds.len()]).collect();
    for (cost, point, seed) in units {
        let lightest = (0..load.len())
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .expect("one shard at least");
        load[lightest] += cost;
        shards[point][seed] = lightest;
    }
    shards
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
        let costs: Vec<Vec<f64>> = (0..7)
            .map(|point| {
                (0..5)
                    .map(|seed| ((point * 5 + seed) % 9 + 1) as f64)
                    .collect()
            })
            .collect();
        for count in [1, 2, 3, 7] {
            let owners = partition(&costs, count);
            assert_eq!(owners, partition(&costs, count), "deterministic");
            let mut load = vec![0.0; count];
            for (point, seeds) in owners.iter().enumerate() {
                assert_eq!(seeds.len(), costs[point].len());
                for (seed, &shard) in seeds.iter().enumerate() {
                    assert!(shard < count);
                    load[shard] += costs[point][seed];
                }
            }
            // Greedy costliest-first: no shard exceeds the lightest by more
            // than the costliest network.
            let (low, high) = load
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
            assert!(high - low <= 9.0, "{count} shards: {load:?}");
        }
    }
}
