//! Helpers for the integration tests: they run the real binary in a fresh
//! temporary directory.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system's temporary folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "variability-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(unique);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the `variability` binary with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    run_with_env(dir, args, &[])
}

/// Runs the `variability` binary with `args` and extra environment variables.
pub fn run_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_variability"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run the variability binary")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Reads a JSON-lines file into JSON values.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read results")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON record per line"))
        .collect()
}

/// Records as a set of canonical JSON texts, without the timing fields
/// (wall time and the size of the ensemble a network was trained in).
pub fn record_set(path: &std::path::Path) -> BTreeSet<String> {
    json_lines(path)
        .into_iter()
        .map(|mut record| {
            let object = record.as_object_mut().unwrap();
            object.remove("train_seconds");
            object.remove("ensemble_size");
            serde_json::to_string(&record).unwrap()
        })
        .collect()
}

/// Waits, at most two minutes, until the running `child` has written
/// `count` lines to `path`, and checks it is still running then.
pub fn wait_for_lines(child: &mut std::process::Child, path: &Path, count: usize) {
    let started = std::time::Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before the test could act: make it slower"
        );
        if std::fs::read_to_string(path).map_or(0, |t| t.lines().count()) >= count {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no results appeared in {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
