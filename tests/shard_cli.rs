//! `variability study --shard` and `variability merge` through the real
//! binary, without a scheduler (tests/slurm.rs runs the same on Slurm).

mod common;

use std::process::Command;

use common::{json_lines, record_set, run_in, stderr, stdout, wait_for_lines, TempDir};

const TINY_STUDY: &str = r#"
name = "tiny"
budget = 200
activations = ["relu", "abs"]
depths = [1, 2, 4]
grid = 12
measure_seeds = 5
train_seeds = 2

[train]
steps = 40
log_every = 10
train_size = 64
test_size = 64
"#;

/// Runs `tiny.toml` in `dir` as each of `shards`, into `out`.
fn run_shards(dir: &TempDir, shards: &[&str], out: &str) {
    for shard in shards {
        let args = [
            "study",
            "tiny.toml",
            "--shard",
            shard,
            "--out",
            out,
            "--quiet",
        ];
        let output = run_in(dir.path(), &args);
        assert!(output.status.success(), "{shard}: {}", stderr(&output));
    }
}

#[test]
fn three_shards_merge_into_what_one_run_writes() {
    let dir = TempDir::new("shards");
    std::fs::write(dir.join("tiny.toml"), TINY_STUDY).unwrap();
    run_shards(&dir, &["0/3", "1/3", "2/3"], "sharded");
    // Every shard holds part of the study, none all of it.
    let sizes: Vec<usize> = (0..3)
        .map(|i| json_lines(&dir.join(&format!("sharded/shards/{i}-of-3/runs.jsonl"))).len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 2 * 3 * 5, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n > 0 && n < 30), "{sizes:?}");

    let merge = run_in(dir.path(), &["merge", "sharded"]);
    assert!(merge.status.success(), "{}", stderr(&merge));
    assert!(stdout(&merge).contains("30 networks"), "{}", stdout(&merge));
    let single = run_in(
        dir.path(),
        &["study", "tiny.toml", "--out", "single", "--quiet"],
    );
    assert!(single.status.success(), "{}", stderr(&single));
    assert_eq!(
        record_set(&dir.join("sharded/runs.jsonl")),
        record_set(&dir.join("single/runs.jsonl"))
    );
    for file in ["summary.csv", "correlations.csv", "study.toml"] {
        let read = |d: &str| std::fs::read_to_string(dir.join(d).join(file)).unwrap();
        assert_eq!(read("sharded"), read("single"), "{file}");
    }
    // The report works on the merged directory unchanged.
    let report = run_in(dir.path(), &["report", "sharded", "--scale", "1"]);
    assert!(report.status.success(), "{}", stderr(&report));
}

#[test]
fn merge_says_what_is_missing_and_refuses_a_different_config() {
    let dir = TempDir::new("merge-refuse");
    std::fs::write(dir.join("tiny.toml"), TINY_STUDY).unwrap();
    for shard in ["0/3", "1/3"] {
        assert!(run_in(
            dir.path(),
            &[
                "study",
                "tiny.toml",
                "--shard",
                shard,
                "--out",
                "out",
                "--quiet"
            ]
        )
        .status
        .success());
    }
    let incomplete = run_in(dir.path(), &["merge", "out"]);
    assert_eq!(incomplete.status.code(), Some(1), "{}", stderr(&incomplete));
    assert!(
        stderr(&incomplete).contains("shard 2/3 is missing"),
        "{}",
        stderr(&incomplete)
    );
    assert!(
        !dir.join("out/runs.jsonl").exists() && !dir.join("out/summary.csv").exists(),
        "nothing partial is written"
    );

    std::fs::write(
        dir.join("other.toml"),
        TINY_STUDY.replace("grid = 12", "grid = 13"),
    )
    .unwrap();
    assert!(run_in(
        dir.path(),
        &[
            "study",
            "other.toml",
            "--shard",
            "2/3",
            "--out",
            "out",
            "--quiet"
        ]
    )
    .status
    .success());
    let refused = run_in(dir.path(), &["merge", "out"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("shard 2/3")
            && stderr(&refused).contains("different study config"),
        "{}",
        stderr(&refused)
    );

    let bad = run_in(
        dir.path(),
        &["study", "tiny.toml", "--shard", "3/3", "--out", "out"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--shard") && stderr(&bad).contains("i/n"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_killed_shard_resumes_and_the_merge_completes() {
    let dir = TempDir::new("shard-resume");
    let slow = TINY_STUDY
        .replace("depths = [1, 2, 4]", "depths = [1, 2, 3, 4, 6, 8]")
        .replace("steps = 40", "steps = 400");
    std::fs::write(dir.join("tiny.toml"), &slow).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_variability"))
        .args([
            "study",
            "tiny.toml",
            "--shard",
            "0/2",
            "--out",
            "out",
            "--quiet",
            "--threads",
            "1",
        ])
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    let runs = dir.join("out/shards/0-of-2/runs.jsonl");
    wait_for_lines(&mut child, &runs, 2);
    let early = run_in(dir.path(), &["merge", "out"]);
    assert_eq!(early.status.code(), Some(2), "{}", stderr(&early));
    assert!(
        stderr(&early).contains("shard 0/2") && stderr(&early).contains("still running"),
        "{}",
        stderr(&early)
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&runs).unwrap();

    for shard in ["0/2", "1/2"] {
        let output = run_in(
            dir.path(),
            &[
                "study",
                "tiny.toml",
                "--shard",
                shard,
                "--out",
                "out",
                "--quiet",
            ],
        );
        assert!(output.status.success(), "{shard}: {}", stderr(&output));
    }
    let resumed = std::fs::read_to_string(&runs).unwrap();
    let kept: Vec<&str> = partial.lines().filter(|l| l.ends_with('}')).collect();
    assert!(
        kept.iter().all(|line| resumed.contains(line)),
        "the resumed shard kept what it had"
    );
    let merge = run_in(dir.path(), &["merge", "out"]);
    assert!(merge.status.success(), "{}", stderr(&merge));
    assert_eq!(
        json_lines(&dir.join("out/runs.jsonl")).len(),
        2 * 6 * 5,
        "every network once"
    );
}

/// A study that sweeps two learning rates trains each trained seed once
/// per rate; its shards merge into what one run writes, and a run cut
/// short resumes to every record once.
#[test]
fn a_study_over_two_rates_shards_merges_and_resumes() {
    let dir = TempDir::new("two-rates");
    let study = TINY_STUDY.replace("[train]\n", "[train]\nlearning_rate = [1e-3, 1e-2]\n");
    std::fs::write(dir.join("tiny.toml"), &study).unwrap();
    let single = run_in(
        dir.path(),
        &["study", "tiny.toml", "--out", "single", "--quiet"],
    );
    assert!(single.status.success(), "{}", stderr(&single));
    // 6 points × (2 trained seeds × 2 rates + 3 measured only).
    let records = json_lines(&dir.join("single/runs.jsonl"));
    assert_eq!(records.len(), 6 * 7);
    let rates: std::collections::BTreeSet<String> = records
        .iter()
        .filter_map(|r| r["optimizer"]["learning_rate"].as_f64())
        .map(|rate| format!("{rate:e}"))
        .collect();
    assert_eq!(rates.into_iter().collect::<Vec<_>>(), ["1e-2", "1e-3"]);
    // Per point: the fixed setting's row, the other setting's, the tuned one.
    let summary = std::fs::read_to_string(dir.join("single/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 3 * 6, "{summary}");
    assert_eq!(
        summary.matches(",tuned: adam lr 1e-").count(),
        6,
        "{summary}"
    );
    let correlations = std::fs::read_to_string(dir.join("single/correlations.csv")).unwrap();
    assert!(
        correlations.contains("\nall@200/tuned,v3,"),
        "{correlations}"
    );
    let report = run_in(dir.path(), &["report", "single", "--out", "report"]);
    assert!(report.status.success(), "{}", stderr(&report));
    let markdown = std::fs::read_to_string(dir.join("report/summary.md")).unwrap();
    assert!(
        markdown.contains("## Trainability under tuning"),
        "{markdown}"
    );
    // The saved config keeps the list as a list.
    let saved = std::fs::read_to_string(dir.join("single/study.toml")).unwrap();
    assert!(saved.contains("learning_rate = [0.001, 0.01]"), "{saved}");

    run_shards(&dir, &["0/2", "1/2"], "sharded");
    let merge = run_in(dir.path(), &["merge", "sharded"]);
    assert!(merge.status.success(), "{}", stderr(&merge));
    assert_eq!(
        record_set(&dir.join("sharded/runs.jsonl")),
        record_set(&dir.join("single/runs.jsonl"))
    );

    // What `kill -9` leaves: the first records and a line cut short.
    std::fs::create_dir_all(dir.join("resumed")).unwrap();
    std::fs::copy(
        dir.join("single/study.toml"),
        dir.join("resumed/study.toml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.join("single/runs.jsonl")).unwrap();
    let mut partial: String = text.lines().take(9).map(|l| format!("{l}\n")).collect();
    partial.push_str("{\"activation\":\"relu\",\"dep");
    std::fs::write(dir.join("resumed/runs.jsonl"), partial).unwrap();
    let resumed = run_in(
        dir.path(),
        &["study", "tiny.toml", "--out", "resumed", "--quiet"],
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stdout(&resumed).contains("resuming: 9 networks kept"),
        "{}",
        stdout(&resumed)
    );
    let keys: std::collections::BTreeSet<String> = json_lines(&dir.join("resumed/runs.jsonl"))
        .iter()
        .map(|r| {
            let setting = &r["optimizer"];
            format!(
                "{} {} {} {} {}",
                r["activation"], r["depth"], r["seed"], setting["name"], setting["learning_rate"]
            )
        })
        .collect();
    assert_eq!(keys.len(), 6 * 7, "every record once");
    assert_eq!(json_lines(&dir.join("resumed/runs.jsonl")).len(), 6 * 7);
}
