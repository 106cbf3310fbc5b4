//! The worked example of the guide's extending chapter (docs/extending.md): an activation
//! and a block type written outside the library (`examples/custom_extension.rs`)
//! run through `measure`, `train`, `study` and `report`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{json_lines, stderr, TempDir};

/// `cargo test` builds the examples next to the binary under test.
fn example_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_variability"));
    let path = binary
        .parent()
        .unwrap()
        .join("examples")
        .join("custom_extension");
    assert!(
        path.exists(),
        "{} is missing: cargo test builds examples unless told otherwise",
        path.display()
    );
    path
}

fn run_example(dir: &TempDir, args: &[&str]) -> Output {
    Command::new(example_binary())
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("run the example")
}

const SMALL: &[&str] = &[
    "--budget",
    "300",
    "--grid",
    "12",
    "--train-size",
    "64",
    "--quiet",
];

fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(SMALL.iter()).copied().collect()
}

#[test]
fn a_user_activation_and_block_run_through_every_command() {
    let dir = TempDir::new("extension");

    let output = run_example(
        &dir,
        &with(&[
            "measure",
            "--activation",
            "swish,relu",
            "--layer",
            "gated,dense",
            "--depth",
            "1,3",
            "--seeds",
            "3",
            "--out",
            "measured.jsonl",
        ]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let records = json_lines(&dir.join("measured.jsonl"));
    assert_eq!(records.len(), 2 * 2 * 2 * 3);
    let gated_swish: Vec<_> = records
        .iter()
        .filter(|r| r["layer"] == "gated" && r["activation"] == "swish")
        .collect();
    assert_eq!(gated_swish.len(), 6);
    for r in &gated_swish {
        // A gated block holds two dense layers: the width is solved from its own count.
        let (width, depth) = (r["width"].as_u64().unwrap(), r["depth"].as_u64().unwrap());
        let expected = 2 * 3 * width + (depth - 1) * 2 * width * (width + 1) + width + 1;
        assert_eq!(r["params"].as_u64().unwrap(), expected, "{r}");
        let ratio = r["activation_ratio"].as_f64().unwrap();
        assert!(ratio > 0.0 && ratio < 1.0, "swish ratio {ratio}");
        assert!(
            r["v3"].as_f64().unwrap() > 0.0
                && r["grad_norms"].as_array().unwrap().len() as u64 == depth + 1
        );
    }

    let output = run_example(
        &dir,
        &with(&[
            "train",
            "--activation",
            "swish",
            "--layer",
            "gated",
            "--depth",
            "2",
            "--seeds",
            "2",
            "--steps",
            "30",
            "--log-every",
            "10",
            "--test-size",
            "64",
            "--out",
            "trained.jsonl",
        ]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let trained = json_lines(&dir.join("trained.jsonl"));
    assert_eq!(trained.len(), 2);
    assert!(trained.iter().all(|r| r["layer"] == "gated"
        && r["train_acc"].as_f64().is_some()
        && r["diverged"] == false));

    let study = r#"
name = "ext"
budget = 300
activations = ["swish"]
layer = ["gated", "residual"]
depths = [1, 3]
grid = 12
measure_seeds = 3
train_seeds = 1

[train]
steps = 20
log_every = 10
train_size = 64
test_size = 64
"#;
    std::fs::write(dir.join("ext.toml"), study).unwrap();
    let output = run_example(&dir, &["study", "ext.toml", "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let runs = json_lines(&dir.join("results/ext/runs.jsonl"));
    assert_eq!(runs.len(), 2 * 2 * 3);
    let output = run_example(&dir, &["report", "results/ext", "--scale", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = std::fs::read_to_string(dir.join("results/ext/report/summary.md")).unwrap();
    assert!(summary.contains("| swish | gated | 3 |"), "{summary}");

    // The shipped binary does not know them, and says so.
    let output = common::run_in(dir.path(), &["measure", "--layer", "gated"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown layer 'gated'"),
        "{}",
        stderr(&output)
    );
}
