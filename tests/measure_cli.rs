//! `variability measure` through the real binary.

mod common;

use common::{json_lines, run_in, stderr, stdout, TempDir};

const SMALL: &[&str] = &[
    "measure",
    "--depth",
    "1,3",
    "--budget",
    "200",
    "--seeds",
    "4",
    "--grid",
    "16",
    "--train-size",
    "64",
];

fn with(extra: &[&str]) -> Vec<String> {
    SMALL.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn run(dir: &TempDir, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_in(dir.path(), &args)
}

#[test]
fn measure_prints_a_row_per_point_and_writes_every_key() {
    let dir = TempDir::new("measure");
    let output = run(
        &dir,
        &with(&["--activation", "relu,abs", "--out", "runs.jsonl"]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("relu") || l.starts_with("abs"))
            .count(),
        4,
        "{table}"
    );

    let records = json_lines(&dir.join("runs.jsonl"));
    assert_eq!(records.len(), 2 * 2 * 4);
    let keys = [
        "activation",
        "depth",
        "width",
        "params",
        "budget",
        "seed",
        "init",
        "grid",
        "epsilon",
        "backend",
        "activation_ratio",
        "activation_count",
        "v3",
        "rv_out",
        "rv_layers",
        "c2c",
        "collapse_layer",
        "grad_norms",
        "version",
    ];
    for record in &records {
        for key in keys {
            assert!(record.get(key).is_some(), "record lacks '{key}': {record}");
        }
        let depth = record["depth"].as_u64().unwrap() as usize;
        assert_eq!(record["rv_layers"].as_array().unwrap().len(), depth);
        assert_eq!(record["grad_norms"].as_array().unwrap().len(), depth + 1);
        assert_eq!(record["backend"], "flex", "flex is the default backend");
        assert_eq!(record["grid"], 16);
    }
    let abs: Vec<_> = records
        .iter()
        .filter(|r| r["activation"] == "abs")
        .collect();
    assert!(abs
        .iter()
        .all(|r| r["activation_ratio"].as_f64() == Some(1.0)));
}

#[test]
fn no_proxies_leaves_every_other_measure_as_it_was() {
    let dir = TempDir::new("no-proxies");
    for (file, extra) in [
        ("with.jsonl", None),
        ("without.jsonl", Some("--no-proxies")),
    ] {
        let output = run(
            &dir,
            &with(
                &["--activation", "relu", "--out", file]
                    .into_iter()
                    .chain(extra)
                    .collect::<Vec<_>>(),
            ),
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }
    // Workers append in completion order: compare network by network.
    let sorted = |file: &str| {
        let mut records = json_lines(&dir.join(file));
        records.sort_by_key(|r| (r["depth"].as_u64(), r["seed"].as_u64()));
        records
    };
    let (with_proxies, without) = (sorted("with.jsonl"), sorted("without.jsonl"));
    assert_eq!(with_proxies.len(), without.len());
    for (a, b) in with_proxies.iter().zip(&without) {
        assert!(a["proxies"]["grad_norm"].is_f64(), "{a}");
        for name in ["naswot", "grad_norm", "snip", "synflow", "ntk_cond", "zico"] {
            assert!(b["proxies"][name].is_null(), "{b}");
            assert_eq!(
                b["proxies"]["missing"][name],
                "not computed (proxies = false)"
            );
        }
        for key in [
            "seed",
            "depth",
            "v3",
            "rv_out",
            "activation_ratio",
            "grad_norms",
        ] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }
}

#[test]
fn the_same_seed_gives_identical_records() {
    let dir = TempDir::new("repeat");
    for file in ["a.jsonl", "b.jsonl"] {
        let output = run(
            &dir,
            &with(&["--activation", "tanh", "--seed", "7", "--out", file]),
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }
    // Worker threads append records as their chunks finish, so the order of
    // lines may differ between runs; the records themselves may not.
    let sorted_lines = |file: &str| {
        let mut lines: Vec<String> = std::fs::read_to_string(dir.join(file))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let a = sorted_lines("a.jsonl");
    assert_eq!(a.len(), 8);
    assert_eq!(a, sorted_lines("b.jsonl"));
    let other = run(
        &dir,
        &with(&["--activation", "tanh", "--seed", "8", "--out", "c.jsonl"]),
    );
    assert!(other.status.success());
    assert_ne!(a, sorted_lines("c.jsonl"));
}

/// Each bad input: one clear line naming the flag and what is allowed, exit 2.
#[test]
fn bad_input_is_refused_with_the_flag_named() {
    // One refusal of each kind through the binary: clap's, the checker's,
    // and an output file that cannot be written. Every other bad flag is a
    // unit test of the checker (`cli/args.rs`).
    let dir = TempDir::new("bad");
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--init", "orthogonal"],
            "--init",
            "possible values: scaled, he, torch-default, xavier",
        ),
        (&["--grid", "3"], "--grid", "at least 4"),
        (
            &["--out", "no/such/folder/runs.jsonl"],
            "--out",
            "cannot write",
        ),
    ];
    for (extra, flag, hint) in cases {
        // Validation happens before any work, so the defaults cost nothing here.
        let args: Vec<&str> = ["measure"].iter().chain(extra.iter()).copied().collect();
        let output = run_in(dir.path(), &args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {message}");
        assert!(
            message.contains(flag) && message.contains(hint),
            "{extra:?}: {message}"
        );
        assert!(
            !message.contains("panicked") && !message.contains("backtrace"),
            "{message}"
        );
        assert!(
            message.lines().next().unwrap().starts_with("error"),
            "{message}"
        );
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_without_an_adapter_is_one_clear_line() {
    let dir = TempDir::new("no-gpu");
    // Point the Vulkan loader at no driver at all.
    let hide_drivers = [
        ("VK_ICD_FILENAMES", "/nonexistent.json"),
        ("VK_DRIVER_FILES", "/nonexistent.json"),
    ];
    let output = common::run_with_env(
        dir.path(),
        &[
            "measure",
            "--depth",
            "1",
            "--seeds",
            "1",
            "--grid",
            "8",
            "--backend",
            "wgpu",
        ],
        &hide_drivers,
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.starts_with("error: --backend wgpu: no GPU adapter found"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn every_shipped_block_type_is_measured_with_its_own_width() {
    let dir = TempDir::new("layers");
    let output = run(
        &dir,
        &with(&[
            "--activation",
            "relu",
            "--layer",
            "dense,residual,layernorm-dense",
            "--out",
            "runs.jsonl",
        ]),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let records = common::json_lines(&dir.join("runs.jsonl"));
    assert_eq!(records.len(), 3 * 2 * 4);
    for layer in ["dense", "residual", "layernorm-dense"] {
        let mine: Vec<_> = records.iter().filter(|r| r["layer"] == layer).collect();
        assert_eq!(mine.len(), 8, "{layer}");
        for r in mine {
            // Sized to the budget from the block's own parameters.
            let params = r["params"].as_u64().unwrap() as i64;
            assert!((params - 200).abs() < 60, "{layer}: {params} parameters");
            assert!(
                r["v3"].as_f64().unwrap().is_finite() && r["rv_out"].as_f64().unwrap() > 0.0,
                "{r}"
            );
        }
    }
    // depth 3 at budget 200: dense width 9 (199 parameters), residual width 6 (3·6 + 2·2·6·7 + 7 = 193).
    let width = |layer: &str| {
        records
            .iter()
            .find(|r| r["layer"] == layer && r["depth"] == 3)
            .unwrap()["width"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(width("dense"), 9);
    assert_eq!(width("residual"), 6);
}
