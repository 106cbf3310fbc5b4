//! `variability report` through the real binary, on a tiny study.

mod common;

use common::{run_in, stderr, TempDir};

const TINY_STUDY: &str = r#"
name = "tiny"
budget = 200
activations = ["relu", "abs"]
depths = [1, 2, 4]
grid = 12
measure_seeds = 4
train_seeds = 2

[train]
steps = 30
learning_rate = [1e-3, 1e-2]
track = [0, 10, 30]
log_every = 10
train_size = 64
test_size = 64
"#;

const FIGURES: [&str; 15] = [
    "v3_vs_depth",
    "activation_ratio_vs_depth",
    "activation_count_vs_depth",
    "c2c_vs_depth",
    "accuracy_vs_depth",
    "v3_vs_activation_ratio",
    "v3_vs_activation_count",
    "accuracy_vs_v3",
    "landscapes_init",
    "landscapes_trained",
    "collapse_profile",
    "predictor_league",
    "accuracy_vs_lr",
    "tuned_accuracy_vs_depth",
    "variability_during_training",
];

#[test]
fn report_draws_every_figure_and_the_summary() {
    let dir = TempDir::new("report");
    std::fs::write(dir.join("tiny.toml"), TINY_STUDY).unwrap();
    let study = run_in(dir.path(), &["study", "tiny.toml", "--quiet"]);
    assert!(study.status.success(), "{}", stderr(&study));
    let report = run_in(
        dir.path(),
        &["report", "results/tiny", "--out", "figures", "--scale", "1"],
    );
    assert!(report.status.success(), "{}", stderr(&report));
    for name in FIGURES {
        let path = dir.join("figures").join(format!("{name}.png"));
        let image = image::open(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .to_rgb8();
        assert!(
            image.width() >= 500 && image.height() >= 400,
            "{name}: {:?}",
            image.dimensions()
        );
        let colours: std::collections::HashSet<_> = image.pixels().map(|p| p.0).collect();
        assert!(colours.len() > 10, "{name} is nearly blank");
    }
    let summary = std::fs::read_to_string(dir.join("figures/summary.md")).unwrap();
    assert!(
        summary.contains("| relu | dense | 4 |") && summary.contains("Spearman"),
        "{summary}"
    );
    // Every measure and proxy is correlated, with Kendall's τ and a bootstrap interval.
    let correlations = std::fs::read_to_string(dir.join("results/tiny/correlations.csv")).unwrap();
    let header = correlations.lines().next().unwrap();
    assert_eq!(
        header,
        "scope,measure,points,spearman,p_value,spearman_low,spearman_high,kendall"
    );
    for measure in [
        "v3",
        "naswot",
        "grad_norm",
        "snip",
        "synflow",
        "ntk_cond",
        "zico",
    ] {
        assert!(
            correlations
                .lines()
                .any(|l| l.starts_with(&format!("all@200,{measure},"))),
            "{measure}: {correlations}"
        );
    }
    let table = std::fs::read_to_string(dir.join("results/tiny/summary.csv")).unwrap();
    assert!(
        table.lines().next().unwrap().contains("synflow_median"),
        "{table}"
    );

    let svg = run_in(
        dir.path(),
        &["report", "results/tiny", "--out", "svg", "--format", "svg"],
    );
    assert!(svg.status.success(), "{}", stderr(&svg));
    // The SVG is well-formed XML: an <svg> root holding the chart's lines
    // and its labels.
    let text = std::fs::read_to_string(dir.join("svg/v3_vs_depth.svg")).unwrap();
    let document = roxmltree::Document::parse(&text).expect("the SVG parses as XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let count = |tag: &str| root.descendants().filter(|n| n.has_tag_name(tag)).count();
    assert!(
        count("polyline") + count("path") + count("line") > 0,
        "no lines"
    );
    let labels: String = root
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        labels.contains("relu") && labels.contains("abs"),
        "{labels}"
    );
    // The learning-rate axis is ticked at the swept rates themselves.
    let text = std::fs::read_to_string(dir.join("svg/accuracy_vs_lr.svg")).unwrap();
    let document = roxmltree::Document::parse(&text).expect("the SVG parses as XML");
    let ticks: Vec<&str> = document
        .root_element()
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(
        ticks.contains(&"1e-3") && ticks.contains(&"1e-2"),
        "{ticks:?}"
    );
    // Seed 0's trained landscape is kept at the fixed setting (Adam 1e-3):
    // each panel's title gives that network's accuracy, not another rate's.
    let text = std::fs::read_to_string(dir.join("svg/landscapes_trained.svg")).unwrap();
    let document = roxmltree::Document::parse(&text).expect("the SVG parses as XML");
    let titles: Vec<&str> = document
        .root_element()
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let records = common::json_lines(&dir.join("results/tiny/runs.jsonl"));
    let mut differ = false;
    for record in records
        .iter()
        .filter(|r| r["seed"] == 0 && r["optimizer"]["learning_rate"] == 1e-3)
    {
        let accuracy = |rate: f64| {
            records
                .iter()
                .find(|r| {
                    r["seed"] == 0
                        && r["activation"] == record["activation"]
                        && r["depth"] == record["depth"]
                        && r["optimizer"]["learning_rate"] == rate
                })
                .and_then(|r| r["train_acc"].as_f64())
                .unwrap()
        };
        let title = format!(
            "L = {}, train accuracy {:.2}",
            record["depth"],
            accuracy(1e-3)
        );
        assert!(
            titles.contains(&title.as_str()),
            "{title} not in {titles:?}"
        );
        differ |= format!("{:.2}", accuracy(1e-3)) != format!("{:.2}", accuracy(1e-2));
    }
    assert!(
        differ,
        "the two rates should train some network differently"
    );
}

#[test]
fn report_refuses_bad_input_clearly() {
    let dir = TempDir::new("report-bad");
    let missing = run_in(dir.path(), &["report", "no-such-results"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("study.toml"),
        "{}",
        stderr(&missing)
    );
    let format = run_in(dir.path(), &["report", ".", "--format", "gif"]);
    assert_eq!(format.status.code(), Some(2));
    assert!(
        stderr(&format).contains("--format") && stderr(&format).contains("png, svg"),
        "{}",
        stderr(&format)
    );
}
