//! `variability study` and `variability train` through the real binary.

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::{json_lines, run_in, stderr, stdout, wait_for_lines, TempDir};

/// A study of 2 × 2 points, small enough to run in a second.
const TINY_STUDY: &str = include_str!("fixtures/tiny-study.toml");

fn keys(records: &[serde_json::Value]) -> Vec<(String, u64, u64)> {
    records
        .iter()
        .map(|r| {
            (
                r["activation"].as_str().unwrap().to_string(),
                r["depth"].as_u64().unwrap(),
                r["seed"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_study_writes_its_results_and_a_rerun_redoes_nothing() {
    let dir = TempDir::new("study");
    std::fs::write(dir.join("tiny.toml"), TINY_STUDY).unwrap();
    let output = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let results = dir.join("results/tiny");
    for file in [
        "study.toml",
        "runs.jsonl",
        "summary.csv",
        "summary.json",
        "correlations.csv",
    ] {
        assert!(results.join(file).exists(), "missing {file}");
    }
    for landscape in [
        "relu-d1-b200.json",
        "relu-d3-b200.json",
        "abs-d1-b200.json",
        "abs-d3-b200.json",
    ] {
        assert!(
            results.join("landscapes").join(landscape).exists(),
            "missing {landscape}"
        );
    }
    let records = json_lines(&results.join("runs.jsonl"));
    assert_eq!(records.len(), 2 * 2 * 6);
    let trained = records
        .iter()
        .filter(|r| r.get("train_acc").is_some())
        .count();
    assert_eq!(trained, 2 * 2 * 2);
    let summary = std::fs::read_to_string(results.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 4, "{summary}");
    let correlations = std::fs::read_to_string(results.join("correlations.csv")).unwrap();
    assert!(
        correlations.lines().any(|l| l.starts_with("all@200,v3,4,")),
        "{correlations}"
    );

    let before = std::fs::read_to_string(results.join("runs.jsonl")).unwrap();
    let again = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        before,
        std::fs::read_to_string(results.join("runs.jsonl")).unwrap()
    );
}

/// Starts, on one thread, a study with enough work (2 × 6 × 6 networks, 400
/// steps) that a test can act while it runs; returns it and its runs file.
fn spawn_slow_study(dir: &TempDir) -> (std::process::Child, std::path::PathBuf) {
    spawn_study(dir, 400)
}

/// [`spawn_slow_study`] with `steps` training steps per network.
fn spawn_study(dir: &TempDir, steps: usize) -> (std::process::Child, std::path::PathBuf) {
    let study = TINY_STUDY
        .replace("depths = [1, 3]", "depths = [1, 2, 3, 4, 6, 8]")
        .replace("steps = 40", &format!("steps = {steps}"));
    std::fs::write(dir.join("tiny.toml"), study).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_variability"))
        .args(["study", "tiny.toml", "--quiet", "--threads", "1"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, dir.join("results/tiny/runs.jsonl"))
}

#[test]
fn a_killed_study_resumes_with_each_network_once() {
    let dir = TempDir::new("resume");
    let (mut child, runs) = spawn_slow_study(&dir);
    wait_for_lines(&mut child, &runs, 4);
    child.kill().unwrap(); // SIGKILL: no clean-up runs
    child.wait().unwrap();
    let partial = json_lines(&runs).len();
    assert!(partial < 2 * 6 * 6, "the study finished before the kill");
    // A line cut short by the kill must not spoil the resumed file.
    let mut text = std::fs::read_to_string(&runs).unwrap();
    text.push_str("{\"activation\":\"relu\",\"dep");
    std::fs::write(&runs, text).unwrap();

    let output = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let records = json_lines(&runs);
    let keys = keys(&records);
    let unique: HashSet<_> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), 2 * 6 * 6, "every network once");
    assert_eq!(unique.len(), keys.len(), "no network twice");
}

/// SIGTERM mid-study: one line says what was kept, the lock goes with the
/// process, a report meanwhile says how much is in, and the rerun says
/// what it kept.
#[test]
fn an_interrupted_study_says_what_it_kept_and_resumes() {
    let dir = TempDir::new("sigterm");
    // Slow enough (about 10 s) that the report and the signal come mid-run.
    let (mut child, runs) = spawn_study(&dir, 4000);
    wait_for_lines(&mut child, &runs, 4);
    let report = run_in(dir.path(), &["report", "results/tiny", "--out", "plots"]);
    assert!(report.status.success(), "{}", stderr(&report));
    assert!(
        stderr(&report).contains("of 72 networks are in (the study is still running)"),
        "{}",
        stderr(&report)
    );
    let summary = std::fs::read_to_string(dir.join("plots/summary.md")).unwrap();
    assert!(summary.contains("**Incomplete:**"), "{summary}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    let kept = json_lines(&runs).len();
    assert!(kept < 72, "the study finished before the signal");
    assert!(
        stderr(&output).contains(&format!(
            "interrupted: {kept} networks kept in results/tiny; run the same command to resume"
        )),
        "{}",
        stderr(&output)
    );

    let resumed = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stdout(&resumed).contains(&format!(
            "resuming: {kept} networks kept in results/tiny, {} to run",
            72 - kept
        )),
        "{}",
        stdout(&resumed)
    );
    assert_eq!(json_lines(&runs).len(), 72);
}

/// `train` over two rates and two optimisers trains the same networks
/// four ways, and each record says what produced it.
#[test]
fn train_sweeps_rates_and_optimizers_over_the_same_networks() {
    let dir = TempDir::new("settings");
    let output = run_in(
        dir.path(),
        &[
            "train",
            "--activation",
            "relu",
            "--depth",
            "4",
            "--seeds",
            "2",
            "--steps",
            "200",
            "--lr",
            "1e-3,1e-2",
            "--optimizer",
            "adam,sgd",
            "--grid",
            "12",
            "--train-size",
            "64",
            "--test-size",
            "32",
            "--track",
            "0,100,200",
            "--quiet",
            "--out",
            "runs.jsonl",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let records = json_lines(&dir.join("runs.jsonl"));
    assert_eq!(records.len(), 8);
    let mut settings = std::collections::BTreeSet::new();
    for record in &records {
        let optimizer = &record["optimizer"];
        settings.insert(format!(
            "{} {}",
            optimizer["name"], optimizer["learning_rate"]
        ));
        let data = &record["data"];
        assert_eq!(
            (
                data["problem"].as_str(),
                data["loss"].as_str(),
                data["train_size"].as_u64(),
                data["test_size"].as_u64()
            ),
            (Some("checkerboard:8"), Some("bce"), Some(64), Some(32)),
            "{record}"
        );
        // The same network at step 0 under every setting.
        let twin = records
            .iter()
            .find(|r| r["seed"] == record["seed"])
            .unwrap();
        for key in ["network_seed", "v3", "rv_out", "activation_ratio"] {
            assert_eq!(record[key], twin[key], "{key}");
        }
        // Tracked at steps 0, 100 and 200; step 0 is the initial network.
        let tracked = record["tracked"].as_array().expect("tracked steps");
        let steps: Vec<u64> = tracked
            .iter()
            .map(|t| t["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, [0, 100, 200]);
        assert_eq!(tracked[0]["v3"], record["v3"]);
    }
    assert_eq!(settings.len(), 4, "{settings:?}");
}

#[test]
fn a_different_config_is_refused_unless_fresh() {
    let dir = TempDir::new("refuse");
    std::fs::write(dir.join("tiny.toml"), TINY_STUDY).unwrap();
    assert!(run_in(dir.path(), &["study", "tiny.toml", "--quiet"])
        .status
        .success());
    std::fs::write(
        dir.join("tiny.toml"),
        TINY_STUDY.replace("measure_seeds = 6", "measure_seeds = 7"),
    )
    .unwrap();
    let refused = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--fresh"), "{}", stderr(&refused));
    let fresh = run_in(dir.path(), &["study", "tiny.toml", "--quiet", "--fresh"]);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(
        json_lines(&dir.join("results/tiny/runs.jsonl")).len(),
        2 * 2 * 7
    );
}

/// Two processes at once on one results directory: the second is refused
/// while the first holds the lock (it has written a record, so it holds it
/// and is still running), and the first writes every network once.
#[test]
fn a_second_run_into_a_directory_in_use_is_refused() {
    let dir = TempDir::new("lock");
    let (mut first, runs) = spawn_slow_study(&dir);
    wait_for_lines(&mut first, &runs, 1);
    let second = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("in use by another run"),
        "{}",
        stderr(&second)
    );
    assert!(first.wait().unwrap().success(), "the first run must finish");
    let keys = keys(&json_lines(&runs));
    let unique: HashSet<_> = keys.iter().cloned().collect();
    assert_eq!(
        (keys.len(), unique.len()),
        (2 * 6 * 6, 2 * 6 * 6),
        "every network once"
    );
}

#[test]
fn a_directory_whose_lock_is_held_is_refused_and_then_free() {
    let dir = TempDir::new("held");
    std::fs::write(dir.join("tiny.toml"), TINY_STUDY).unwrap();
    std::fs::create_dir_all(dir.join("results/tiny")).unwrap();
    let lock = std::fs::File::create(dir.join("results/tiny/.lock")).unwrap();
    lock.try_lock().unwrap();
    let refused = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("in use by another run"),
        "{}",
        stderr(&refused)
    );
    assert!(
        !dir.join("results/tiny/runs.jsonl").exists(),
        "nothing may run"
    );
    drop(lock);
    assert!(run_in(dir.path(), &["study", "tiny.toml", "--quiet"])
        .status
        .success());
}

#[test]
fn results_trained_before_adam_was_recorded_are_not_resumed() {
    let dir = TempDir::new("old-adam");
    std::fs::write(dir.join("tiny.toml"), TINY_STUDY).unwrap();
    assert!(run_in(dir.path(), &["study", "tiny.toml", "--quiet"])
        .status
        .success());
    let saved = dir.join("results/tiny/study.toml");
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("adam_epsilon = 0.00000001"), "{text}");
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("adam_"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&saved, old).unwrap();
    let refused = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("1e-5") && stderr(&refused).contains("--fresh"),
        "{}",
        stderr(&refused)
    );
}

/// Each study-file mistake is refused before anything runs, naming the key.
/// One refusal of each kind through the binary: a syntax or unknown-key
/// error from the parser, a value the checker refuses, and a missing file.
/// Every other mistake is a unit test of the checker (`study/config.rs`).
#[test]
fn study_file_mistakes_are_refused_naming_the_key() {
    let dir = TempDir::new("mistakes");
    let cases: &[(&str, &str, &str)] = &[
        ("steps = 40", "stepz = 40", "stepz"),
        ("grid = 12", "grid = 3", "grid"),
    ];
    for (from, to, named) in cases {
        assert!(TINY_STUDY.contains(from), "{from}");
        std::fs::write(dir.join("bad.toml"), TINY_STUDY.replace(from, to)).unwrap();
        let output = run_in(dir.path(), &["study", "bad.toml", "--quiet"]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{to}: {message}");
        assert!(message.contains(named), "{to}: {message}");
        assert!(!message.contains("panicked"), "{message}");
        assert!(!dir.join("results").exists(), "{to}: nothing may run");
    }
    let missing = run_in(dir.path(), &["study", "no-such-file.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no-such-file.toml"));
}

#[test]
fn train_writes_the_training_keys_and_records_divergence() {
    let dir = TempDir::new("train");
    let base = [
        "train",
        "--activation",
        "relu",
        "--depth",
        "3",
        "--budget",
        "150",
        "--seeds",
        "2",
        "--grid",
        "12",
        "--train-size",
        "64",
        "--test-size",
        "64",
        "--steps",
        "30",
        "--log-every",
        "10",
        "--quiet",
    ];
    let ok = run_in(dir.path(), &[&base[..], &["--out", "ok.jsonl"]].concat());
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("train acc"));
    for record in json_lines(&dir.join("ok.jsonl")) {
        for key in [
            "train_acc",
            "best_train_acc",
            "test_acc",
            "final_loss",
            "loss_curve",
            "trapped",
            "diverged",
            "train_seconds",
            "v3",
            "grad_norms",
        ] {
            assert!(record.get(key).is_some(), "missing {key}: {record}");
        }
        assert_eq!(record["loss_curve"].as_array().unwrap().len(), 4); // steps 0, 10, 20, 29
        let adam = &record["optimizer"];
        assert_eq!(
            (adam["name"].as_str(), adam["epsilon"].as_f64()),
            (Some("adam"), Some(1e-8)),
            "{record}"
        );
        assert_eq!(
            (
                adam["beta1"].as_f64(),
                adam["beta2"].as_f64(),
                adam["learning_rate"].as_f64()
            ),
            (Some(0.9), Some(0.999), Some(1e-3))
        );
    }
    let huge = run_in(
        dir.path(),
        &[&base[..], &["--lr", "1e30", "--out", "huge.jsonl"]].concat(),
    );
    assert!(
        huge.status.success(),
        "a diverging run is a result, not a crash: {}",
        stderr(&huge)
    );
    for record in json_lines(&dir.join("huge.jsonl")) {
        assert_eq!(record["diverged"], true, "{record}");
    }
}
