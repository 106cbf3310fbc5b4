//! The crate's rooms depend on each other one way only (the rules in
//! `src/lib.rs`): this reads every `crate::…` path in `src/` and fails on a
//! cycle between top-level modules or on a forbidden direction.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it refers to.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`nn/mlp.rs` → `nn`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::name` in a source text, tests included (a test module that
/// imports a room is a dependency too), comments excluded.
fn crate_references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // `crate::{a, b}` groups: take every name in the braces.
            if after.starts_with('{') {
                let group = after[1..].split('}').next().unwrap_or("");
                for item in group.split(',') {
                    let item: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !item.is_empty() {
                        found.insert(item);
                    }
                }
            } else if !name.is_empty() {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let from = module_of(&src, file);
        if from == "lib" || from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let targets: Vec<String> = crate_references(&text)
            .into_iter()
            .filter(|to| modules.contains(to) && *to != from)
            .collect();
        graph.entry(from).or_default().extend(targets);
    }
    graph
}

/// A cycle through `start`, if any, as the list of modules on it.
fn cycle_through(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                return Some([path.clone(), vec![start.to_string()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = graph();
    assert!(
        graph.contains_key("nn") && graph.contains_key("study"),
        "the rooms were not found: {graph:?}"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn dependencies_point_the_allowed_way() {
    let graph = graph();
    let forbidden: &[(&str, &[&str])] = &[
        (
            "nn",
            &["measure", "train", "study", "report", "cli", "bench"],
        ),
        (
            "problem",
            &["nn", "measure", "train", "study", "report", "cli", "bench"],
        ),
        ("measure", &["train", "study", "report", "cli", "bench"]),
        ("train", &["study", "report", "cli", "bench"]),
        ("study", &["report", "cli", "bench"]),
        ("report", &["train", "measure", "cli", "bench"]),
        (
            "seed",
            &[
                "nn", "problem", "measure", "train", "study", "report", "cli", "bench",
            ],
        ),
        (
            "json",
            &[
                "nn", "problem", "measure", "train", "study", "report", "cli", "bench",
            ],
        ),
        (
            "stats",
            &[
                "nn", "problem", "measure", "train", "study", "report", "cli", "bench",
            ],
        ),
        (
            "error",
            &[
                "nn", "problem", "measure", "train", "study", "report", "cli", "bench",
            ],
        ),
    ];
    for (from, not_to) in forbidden {
        let uses = graph.get(*from).cloned().unwrap_or_default();
        for to in *not_to {
            assert!(
                !uses.contains(*to),
                "`{from}` must not import `{to}` (it uses {uses:?})"
            );
        }
    }
}

#[test]
fn backends_are_named_in_one_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let naming: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| {
                    l.contains("Wgpu")
                        || l.contains("impl SupportedBackend for")
                        || l.contains("BackendKind::Ndarray =>")
                })
        })
        .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert_eq!(
        naming,
        vec!["nn/backend.rs".to_string()],
        "backend types named outside nn/backend.rs"
    );
}

#[test]
fn the_checker_sees_grouped_and_plain_paths() {
    let found =
        crate_references("use crate::{nn::Mlp, study};\nlet x = crate::json::f(); // crate::cli\n");
    assert_eq!(
        found,
        ["json", "nn", "study"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
