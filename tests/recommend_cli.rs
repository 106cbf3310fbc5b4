//! `variability recommend` and the model problems through the real binary.

mod common;

use common::{json_lines, run_in, stderr, stdout, TempDir};

#[test]
fn recommend_ranks_by_the_measure_and_verifies_both_ends() {
    let dir = TempDir::new("recommend");
    let args = [
        "recommend",
        "--budget",
        "200",
        "--activation",
        "relu,abs",
        "--layer",
        "dense",
        "--depth",
        "1,2,4",
        "--seeds",
        "3",
        "--grid",
        "12",
        "--verify",
        "1",
        "--verify-seeds",
        "1",
        "--steps",
        "20",
        "--out",
        "rank.json",
        "--quiet",
    ];
    let output = run_in(dir.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("Top of the ranking") && text.contains("Bottom of the ranking"),
        "{text}"
    );

    let ranking: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("rank.json")).unwrap()).unwrap();
    assert_eq!(ranking["by"], "v3");
    let candidates = ranking["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 6);
    let medians: Vec<f64> = candidates
        .iter()
        .map(|c| c["median"].as_f64().unwrap())
        .collect();
    assert!(
        medians.windows(2).all(|w| w[0] >= w[1]),
        "best first: {medians:?}"
    );
    let ranks: Vec<u64> = candidates
        .iter()
        .map(|c| c["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2, 3, 4, 5, 6]);
    // The top and the bottom candidate were trained, the others not.
    let verified: Vec<bool> = candidates
        .iter()
        .map(|c| !c["verified"].is_null())
        .collect();
    assert_eq!(verified, [true, false, false, false, false, true]);

    let bad = run_in(
        dir.path(),
        &["recommend", "--by", "loss", "--out", "x.json"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--by") && stderr(&bad).contains("synflow"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn problems_are_chosen_by_name_and_bad_ones_refused() {
    let dir = TempDir::new("problems");
    let small = [
        "train",
        "--activation",
        "tanh",
        "--depth",
        "2",
        "--budget",
        "200",
        "--seeds",
        "1",
        "--grid",
        "12",
        "--steps",
        "200",
        "--train-size",
        "256",
        "--test-size",
        "256",
    ];
    fn with<'a>(small: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        small.iter().chain(extra).copied().collect()
    }

    for (bad, flag) in [
        (&["--problem", "rings:0"][..], "--problem"),
        (&["--problem", "moons"][..], "--problem"),
        (&["--problem", "sines:2"][..], "--loss"),
    ] {
        let output = run_in(
            dir.path(),
            &with(&small, &[bad, &["--out", "bad.jsonl"]].concat()),
        );
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        assert!(
            stderr(&output).contains(flag) && !dir.join("bad.jsonl").exists(),
            "{bad:?}: {}",
            stderr(&output)
        );
    }

    let spirals = run_in(
        dir.path(),
        &with(
            &small,
            &["--problem", "spirals:2", "--out", "spirals.jsonl"],
        ),
    );
    assert!(spirals.status.success(), "{}", stderr(&spirals));
    let sines = run_in(
        dir.path(),
        &with(
            &small,
            &[
                "--problem",
                "sines:1",
                "--loss",
                "mse",
                "--out",
                "sines.jsonl",
            ],
        ),
    );
    assert!(sines.status.success(), "{}", stderr(&sines));
    assert!(stdout(&sines).contains("train R²"), "{}", stdout(&sines));
    let record = &json_lines(&dir.join("sines.jsonl"))[0];
    // R² of a regression fit: at most 1, and chance (the mean) is 0.
    let r2 = record["train_acc"].as_f64().unwrap();
    assert!(
        r2 <= 1.0 && r2 > 0.0,
        "R² after 200 steps on sin(πx)sin(πy): {r2}"
    );
    assert_eq!(record["chance"], 0.0);
    // A different problem is different data: the two runs' losses differ.
    let spiral_record = &json_lines(&dir.join("spirals.jsonl"))[0];
    assert_ne!(spiral_record["final_loss"], record["final_loss"]);
}
