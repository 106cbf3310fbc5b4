//! A study's results directory: `study.toml` (the resolved config),
//! `runs.jsonl` (one record per finished network, appended and flushed),
//! `landscapes/` (seed 0's output landscapes), then the summaries. Running a
//! study again resumes it: finished networks are kept, the rest are run.

use std::fs;
use std::path::{Path, PathBuf};

use super::config::{StudyConfig, StudyPlan};
use super::error::{io_error, write_file, StudyError};
use super::interrupt::Kept;
use super::progress::{Progress, ProgressMode};
use super::records::RunRecord;
use super::summary::StudySummary;
use crate::error::InputError;
use crate::json::{read_json_lines, JsonLines};
use crate::nn::ComputeBackend;

/// A study's results directory, held by this process: a lock on its
/// `.lock` file keeps a second run out until this one ends.
pub struct ResultsDir {
    /// The directory.
    pub path: PathBuf,
    /// Held for as long as the directory is in use; the lock goes with it.
    _lock: fs::File,
}

/// The files of a results directory that `--fresh` removes.
const RESULT_FILES: [&str; 5] = [
    "runs.jsonl",
    "study.toml",
    "summary.csv",
    "summary.json",
    "correlations.csv",
];

impl ResultsDir {
    /// `runs.jsonl`: one record per finished network.
    pub fn runs(&self) -> PathBuf {
        self.path.join("runs.jsonl")
    }
    /// `landscapes/`: the output landscapes of seed 0.
    pub fn landscapes(&self) -> PathBuf {
        self.path.join("landscapes")
    }

    /// Whether a run holds the results directory `path` now (a study still
    /// running there).
    pub fn in_use(path: &Path) -> bool {
        path.join(".lock").exists() && matches!(try_lock(path), Ok(None))
    }

    /// Makes the directory ready for `plan`: new, resumed (same resolved
    /// config) or, with `fresh`, emptied. A different config, or a
    /// directory another run holds, is refused.
    pub fn prepare(path: &Path, plan: &StudyPlan, fresh: bool) -> Result<Self, StudyError> {
        fs::create_dir_all(path).map_err(io_error(format!("creating {}", path.display())))?;
        let dir = Self {
            path: path.to_path_buf(),
            _lock: lock(path)?,
        };
        let saved = path.join("study.toml");
        if fresh {
            for name in RESULT_FILES {
                let _ = fs::remove_file(path.join(name));
            }
            let _ = fs::remove_dir_all(dir.landscapes());
        }
        if saved.exists() {
            check_resumable(path, &saved, plan)?;
        }
        fs::create_dir_all(dir.landscapes())
            .map_err(io_error(format!("creating {}", path.display())))?;
        let text = toml::to_string(&plan.config).expect("a study config serialises");
        write_file(&saved, text.as_bytes())?;
        Ok(dir)
    }

    /// The finished records, with any line cut short by an interruption
    /// dropped from the file so that appending continues cleanly.
    pub fn finished_records(&self) -> Result<Vec<RunRecord>, StudyError> {
        let runs = self.runs();
        if !runs.exists() {
            return Ok(Vec::new());
        }
        let records: Vec<RunRecord> = read_json_lines(&runs).map_err(|error| {
            // A line that is not a record is the user's to fix (exit 2),
            // and the message already names the file and the line.
            if error.kind() == std::io::ErrorKind::InvalidData {
                InputError::new(
                    "results",
                    format!("{error}; delete that line, or rerun with --fresh to start over"),
                )
                .into()
            } else {
                io_error(format!("reading {}", runs.display()))(error)
            }
        })?;
        let mut text = String::new();
        for record in &records {
            text.push_str(&serde_json::to_string(record).expect("records serialise"));
            text.push('\n');
        }
        write_file(&runs, text.as_bytes())?;
        Ok(records)
    }
}

/// Takes the directory's lock, or says that another run holds it.
fn lock(path: &Path) -> Result<fs::File, StudyError> {
    try_lock(path)?.ok_or_else(|| {
        InputError::new(
            "--out",
            format!("'{}' is in use by another run (it holds {}); wait for it to finish, or use --out for another folder", path.display(), path.join(".lock").display()),
        )
        .into()
    })
}

/// The directory's lock, held until the file is dropped; `None` when
/// another process holds it.
pub(super) fn try_lock(path: &Path) -> Result<Option<fs::File>, StudyError> {
    let lock_path = path.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(format!("opening {}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(source)) => Err(StudyError::Io {
            context: format!("locking {}", lock_path.display()),
            source,
        }),
    }
}

/// A saved config that differs from the plan, or that was written before
/// Adam's settings were recorded (its networks were trained with Burn's
/// ε = 1e-5), cannot be resumed.
fn check_resumable(path: &Path, saved: &Path, plan: &StudyPlan) -> Result<(), StudyError> {
    let refuse = |why: &str| -> StudyError {
        InputError::new(
            "study",
            format!("'{}' holds results of {why}; use --fresh to start over, or --out for another folder", path.display()),
        )
        .into()
    };
    let text =
        fs::read_to_string(saved).map_err(io_error(format!("reading {}", saved.display())))?;
    let previous = StudyConfig::parse(&text, &saved.display().to_string())?;
    if previous != plan.config {
        return Err(refuse("a different study config"));
    }
    let recorded_adam = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("train")?.get("adam_epsilon").cloned())
        .is_some();
    if plan.config.train_seeds > 0 && !recorded_adam {
        return Err(refuse(
            "networks trained before Adam's ε was recorded (Burn's default, 1e-5)",
        ));
    }
    Ok(())
}

/// Runs (or resumes) a study on backend `B`, then writes its summaries.
pub fn run_study<B: ComputeBackend>(
    plan: &StudyPlan,
    dir: &ResultsDir,
    threads: usize,
    progress: ProgressMode,
    device: &B::Device,
) -> Result<StudySummary, StudyError> {
    let finished = dir.finished_records()?;
    let tasks = plan.sweep.tasks::<B>(&finished);
    let (networks, cost) = tasks.size();
    if !finished.is_empty() {
        println!(
            "resuming: {} networks kept in {}, {networks} to run",
            finished.len(),
            dir.path.display()
        );
    }
    let mut runs = JsonLines::append(&dir.runs())
        .map_err(io_error(format!("opening {}", dir.runs().display())))?;
    let mut bar = Progress::new(&plan.config.name, networks, cost, progress);
    bar.announce(plan.sweep.estimated_seconds(cost, threads));
    let kept = Kept::start(&dir.path, finished.len(), true);
    plan.sweep
        .run::<B, StudyError>(tasks.iter(), threads, device, |output| {
            kept.write::<StudyError>(output.records.len(), || {
                // The landscape first: a record on disk means its landscape is too.
                if let Some(landscape) = &output.landscape {
                    let path = dir.landscapes().join(landscape_file_name(
                        &landscape.layer,
                        &landscape.activation,
                        landscape.depth,
                        landscape.budget,
                    ));
                    write_file(
                        &path,
                        serde_json::to_string(landscape)
                            .expect("serialises")
                            .as_bytes(),
                    )?;
                }
                for record in &output.records {
                    runs.write(record)
                        .map_err(io_error(format!("writing {}", dir.runs().display())))?;
                }
                Ok(())
            })?;
            bar.advance(output.records.len(), plan.sweep.task_cost(&output.task));
            Ok(())
        })?;
    drop(kept);
    bar.finish();
    let records = dir.finished_records()?;
    let summary = StudySummary::of(plan, &records);
    summary.write(&dir.path)?;
    Ok(summary)
}

/// File name of a point's seed-0 landscapes (dense points keep the names
/// they had before layer types existed).
pub fn landscape_file_name(layer: &str, activation: &str, depth: usize, budget: usize) -> String {
    if layer == "dense" {
        format!("{activation}-d{depth}-b{budget}.json")
    } else {
        format!("{activation}-{layer}-d{depth}-b{budget}.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_is_no_record_is_the_users_to_fix() {
        let dir = std::env::temp_dir().join(format!("variability-garbage-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("runs.jsonl"), "garbage\n{}\n").unwrap();
        let results = ResultsDir {
            path: dir.clone(),
            _lock: lock(&dir).unwrap(),
        };
        let error = results.finished_records().unwrap_err();
        drop(results);
        fs::remove_dir_all(&dir).unwrap();
        match error {
            StudyError::Input(error) => {
                assert_eq!(error.field, "results");
                assert!(error.message.contains("line 1"), "{error}");
                assert!(error.message.contains("--fresh"), "{error}");
            }
            other => panic!("an I/O error: {other}"),
        }
    }
}
