//! The Slurm scripts on a real Slurm: `scripts/slurm/submit.sh` queues
//! `experiments/quick.toml` as a 3-task job array and a dependent merge +
//! report job; the merged results must hold exactly the networks of a
//! single-process run, with identical records.
//!
//! Without `sbatch` the test skips with a message, so `cargo test` passes
//! on a laptop; CI sets `VARIABILITY_REQUIRE_SLURM=1` (after starting a
//! one-node cluster with `scripts/slurm/local-cluster.sh`), which turns a
//! skip into a failure.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{json_lines, record_set, run_in, stderr, TempDir};

fn slurm_available() -> bool {
    Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_study_runs_as_a_slurm_job_array_and_merges() {
    if !slurm_available() {
        assert!(
            std::env::var("VARIABILITY_REQUIRE_SLURM").is_err(),
            "VARIABILITY_REQUIRE_SLURM is set but no Slurm cluster answers (sinfo failed); start one with scripts/slurm/local-cluster.sh"
        );
        eprintln!("SKIPPED: no Slurm here (sinfo failed); scripts/slurm/local-cluster.sh starts a one-node cluster");
        return;
    }
    let dir = TempDir::new("slurm");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let study = repo.join("experiments/quick.toml");
    let submitted = Command::new(repo.join("scripts/slurm/submit.sh"))
        .args([study.to_str().unwrap(), "3", "sharded"])
        .env("VARIABILITY", env!("CARGO_BIN_EXE_variability"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        submitted.status.success(),
        "submit.sh: {}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let text = String::from_utf8_lossy(&submitted.stdout).into_owned();
    println!("{text}");
    // "array job 8 (3 shards), merge job 9; results in sharded"
    let job_after = |label: &str| -> String {
        let rest = text
            .split(label)
            .nth(1)
            .unwrap_or_else(|| panic!("no '{label}' in: {text}"));
        rest.chars().take_while(char::is_ascii_digit).collect()
    };
    let (array, merge) = (job_after("array job "), job_after("merge job "));

    // Wait, bounded, until neither job is queued or running.
    let started = Instant::now();
    loop {
        let queue = Command::new("squeue")
            .args(["-h", "-j", &format!("{array},{merge}")])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&queue.stdout).trim().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the Slurm jobs did not finish in 10 minutes:\n{}",
            String::from_utf8_lossy(&queue.stdout)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let log = |name: &str| {
        std::fs::read_to_string(dir.join("sharded/logs").join(name)).unwrap_or_default()
    };
    let merged = dir.join("sharded/runs.jsonl");
    assert!(
        merged.exists(),
        "no merged results; merge log:\n{}\nshard 0 log:\n{}",
        log("merge.out"),
        log("shard-0.out")
    );
    for shard in 0..3 {
        assert!(
            dir.join(&format!("sharded/shards/{shard}-of-3/runs.jsonl"))
                .exists(),
            "shard {shard} wrote nothing"
        );
    }
    assert!(
        dir.join("sharded/report/summary.md").exists(),
        "the merge job draws the report"
    );

    let single = run_in(
        dir.path(),
        &[
            "study",
            study.to_str().unwrap(),
            "--out",
            "single",
            "--quiet",
        ],
    );
    assert!(single.status.success(), "{}", stderr(&single));
    assert_eq!(
        json_lines(&merged).len(),
        json_lines(&dir.join("single/runs.jsonl")).len()
    );
    assert_eq!(
        record_set(&merged),
        record_set(&dir.join("single/runs.jsonl"))
    );
    let read = |d: &str| std::fs::read_to_string(dir.join(d).join("summary.csv")).unwrap();
    assert_eq!(read("sharded"), read("single"));
    println!(
        "Slurm: 3 shards and the merge ran in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
