//! Problems beyond the plane (METHOD §10) through the real binary: records
//! of shipped data and teachers, the refusals, and the square's problems
//! unchanged.

mod common;

use std::collections::BTreeMap;

use common::{json_lines, run_in, run_with_env, stderr, TempDir};
use serde_json::Value;

/// `experiments/quick.toml`'s records on Flex, re-recorded when the narrow
/// kernels began to fuse their multiply-adds (the fourth speed round; they
/// say `bbe2239-dirty`). The first recording (f3222b7, before problems
/// beyond the plane) differs from it as `benches/RACE.md` says.
const QUICK_BEFORE: &str = include_str!("fixtures/quick-records-fma.jsonl");

/// Every key path of a record (objects recursed), so a key added, removed
/// or renamed anywhere shows.
fn key_paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = value {
        for (key, inner) in map {
            let path = format!("{prefix}{key}");
            key_paths(inner, &format!("{path}."), out);
            out.push(path);
        }
    }
}

fn network_key(record: &Value) -> String {
    let rate = record["optimizer"]["learning_rate"].as_f64();
    format!(
        "{} {} {} {rate:?}",
        record["activation"], record["depth"], record["seed"]
    )
}

#[test]
fn the_quick_study_keeps_its_records_key_for_key() {
    let dir = TempDir::new("quick");
    let study = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/quick.toml");
    let output = run_in(dir.path(), &["study", study, "--quiet", "--out", "out"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let before: BTreeMap<String, Value> = QUICK_BEFORE
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|record| (network_key(&record), record))
        .collect();
    let now: BTreeMap<String, Value> = json_lines(&dir.join("out/runs.jsonl"))
        .into_iter()
        .map(|record| (network_key(&record), record))
        .collect();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        now.keys().collect::<Vec<_>>()
    );
    for (key, old) in &before {
        let new = &now[key];
        let (mut old_keys, mut new_keys) = (Vec::new(), Vec::new());
        key_paths(old, "", &mut old_keys);
        key_paths(new, "", &mut new_keys);
        old_keys.sort();
        new_keys.sort();
        assert_eq!(old_keys, new_keys, "{key}");
        // The measures at initialisation are one forward pass with inner
        // dimensions of at most 125, where every copy of the crate's loops,
        // and `gemm`'s AVX2 and AVX-512 paths in every such product tried
        // (benches/RACE.md), give the same bits: identical here, and within
        // this tolerance on another x86-64 CPU.
        for measure in ["v3", "rv_out", "activation_ratio", "params", "width"] {
            let (a, b) = (
                old[measure].as_f64().unwrap(),
                new[measure].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() <= 1e-4 * a.abs().max(1e-12),
                "{key} {measure}: {a} vs {b}"
            );
        }
        assert_eq!(old["c2c"], new["c2c"], "{key}");
    }
}

#[test]
fn digits_records_carry_their_dimensions_planes_and_split() {
    let dir = TempDir::new("digits");
    let output = run_in(
        dir.path(),
        &[
            "train",
            "--problem",
            "digits",
            "--activation",
            "relu",
            "--depth",
            "2",
            "--seeds",
            "2",
            "--steps",
            "300",
            "--lr",
            "1e-2",
            "--budget",
            "5000",
            "--grid",
            "21",
            "--planes",
            "3",
            "--quiet",
            "--out",
            "runs.jsonl",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let records = json_lines(&dir.join("runs.jsonl"));
    assert_eq!(records.len(), 2);
    for record in &records {
        assert_eq!(
            (&record["input_dim"], &record["classes"], &record["planes"]),
            (&Value::from(64), &Value::from(10), &Value::from(3))
        );
        let split = &record["split"];
        assert_eq!(split["test_fraction"], 0.25);
        assert_eq!(
            split["train"].as_u64().unwrap() + split["test"].as_u64().unwrap(),
            1797
        );
        // d = 64, k = 10 at budget 5,000 and depth 2 is width 42 (4,966).
        assert_eq!(
            (&record["width"], &record["params"]),
            (&Value::from(42), &Value::from(4966))
        );
        assert!(record["test_acc"].as_f64().unwrap() > 0.9, "{record}");
        assert!((record["chance"].as_f64().unwrap() - 0.1).abs() < 0.01);
    }
}

/// Flags, environment, and what the one-line refusal must say.
type Refusal<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn problems_beyond_the_plane_are_refused_with_the_flag_or_file_named() {
    let dir = TempDir::new("refusals");
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let real = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv.gz");
    let bytes = std::fs::read(real).unwrap();
    std::fs::write(broken.join("digits.csv.gz"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(
        broken.join("breast_cancer.csv"),
        "569,30,malignant,benign\n1,2,3\n",
    )
    .unwrap();
    let broken = broken.to_str().unwrap().to_string();
    let cases: [Refusal; 8] = [
        (
            &["--problem", "moons"],
            &[],
            "--problem: unknown problem 'moons'",
        ),
        (&["--problem", "teacher:0"], &[], "--problem: 'teacher:0'"),
        (
            &["--problem", "digits", "--planes", "0"],
            &[],
            "--planes: must be at least 1",
        ),
        (
            &["--problem", "digits", "--loss", "mse"],
            &[],
            "--loss: digits has 10 classes",
        ),
        (&["--problem", "digits:3"], &[], "digits takes no parameter"),
        (
            &["--problem", "digits"],
            &[("VARIABILITY_DATA", "/nowhere")],
            "/nowhere/digits.csv.gz",
        ),
        (
            &["--problem", "digits"],
            &[("VARIABILITY_DATA", &broken)],
            "digits.csv.gz: not a readable gzip",
        ),
        (
            &["--problem", "breast-cancer"],
            &[("VARIABILITY_DATA", &broken)],
            "breast_cancer.csv: line 2",
        ),
    ];
    for (flags, env, expected) in cases {
        let mut args = vec!["measure", "--depth", "1", "--seeds", "1", "--no-proxies"];
        args.extend_from_slice(flags);
        let output = run_with_env(dir.path(), &args, env);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {message}");
        assert!(message.contains(expected), "{flags:?}: {message}");
        assert_eq!(message.trim().lines().count(), 1, "{message}");
    }
}
