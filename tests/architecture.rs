//! The crate's rooms depend on each other one way only (the rules in
//! `src/lib.rs`): this reads every `crate::…` and `super::…` path in `src/`
//! and fails on a cycle between top-level modules, on a cycle between the
//! files (and subfolders) of one folder, or on a forbidden direction.

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
    paths_after(text, "crate::")
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

/// The files and subfolders of one folder of `src/`, each a node, and
/// which others each one refers to.
///
/// A file refers to a sibling through `super::name` (in a test module:
/// `super::super::name`), or the folder's full path (`crate::nn::name`); a
/// name that `mod.rs` re-exports (`pub use layer::{Layer, …}`) counts as
/// the file it comes from. `mod.rs` itself is the folder's face — it
/// declares and re-exports — and is not a node.
fn folder_graph(src: &Path, folder: &Path) -> Graph {
    let module_path = folder
        .strip_prefix(src)
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("::");
    let mut nodes = BTreeMap::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let is_source = path.extension().is_some_and(|e| e == "rs") && name != "mod";
        if path.is_dir() || is_source {
            nodes.insert(name, path);
        }
    }
    let mod_text = std::fs::read_to_string(folder.join("mod.rs")).unwrap_or_default();
    let reexports = reexported_items(&mod_text);
    let resolve = |name: &str| -> Option<String> {
        if nodes.contains_key(name) {
            Some(name.to_string())
        } else {
            reexports.get(name).cloned()
        }
    };
    let mut graph = Graph::new();
    for (node, path) in &nodes {
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(path, &mut files);
        } else {
            files.push(path.clone());
        }
        let mut targets = BTreeSet::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            // `super::` is the folder in a file of the folder itself; one
            // level deeper in a file of a subfolder, and in a test module.
            let depth = file.parent().unwrap().components().count() - folder.components().count();
            let (main, tests) = match text.find("mod tests {") {
                Some(at) => text.split_at(at),
                None => (text.as_str(), ""),
            };
            let super_of = |extra: usize| "super::".repeat(depth + 1 + extra);
            let mut names = paths_after(main, &super_of(0));
            names.extend(paths_after(tests, &super_of(1)));
            names.extend(paths_after(&text, &format!("crate::{module_path}::")));
            targets.extend(names.iter().filter_map(|name| resolve(name)));
        }
        targets.remove(node);
        graph.insert(node.clone(), targets);
    }
    graph
}

/// `item → file` for every `pub use file::{Item, …}` of a `mod.rs`.
fn reexported_items(mod_text: &str) -> BTreeMap<String, String> {
    let mut items = BTreeMap::new();
    for statement in mod_text.split(';') {
        let statement = statement.trim();
        let Some(rest) = statement
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ")
            .trim()
            .strip_prefix("pub use ")
            .map(str::to_string)
        else {
            continue;
        };
        let Some((file, list)) = rest.split_once("::") else {
            continue;
        };
        let list = list.trim_start_matches('{').trim_end_matches('}');
        for item in list.split(',') {
            let item = item.trim();
            // `fast_affine as affine` exports `affine`.
            let name = item.rsplit(" as ").next().unwrap_or(item).trim();
            let name = name.rsplit("::").next().unwrap_or(name);
            if !name.is_empty() {
                items.insert(name.to_string(), file.trim().to_string());
            }
        }
    }
    items
}

/// The first name after every `prefix` in a source text (each name of a
/// `prefix{a, b::c}` group), comments excluded.
fn paths_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let identifier = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut from = 0;
        while let Some(offset) = code[from..].find(prefix) {
            let at = from + offset;
            let after = &code[at + prefix.len()..];
            from = at + prefix.len();
            // `super::super::x` read with the prefix `super::` is not a
            // sibling named `super`, nor one named `x`.
            if code[..at].ends_with("super::") || after.starts_with("super::") {
                continue;
            }
            if let Some(group) = after.strip_prefix('{') {
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.insert(identifier(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                found.insert(identifier(&item));
            } else {
                found.insert(identifier(after));
            }
        }
    }
    found.remove("");
    found
}

fn folders(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.push(path.clone());
            folders(&path, found);
        }
    }
}

#[test]
fn no_cycle_between_the_files_of_a_folder() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    folders(&src, &mut all);
    let mut cycles = Vec::new();
    for folder in &all {
        let graph = folder_graph(&src, folder);
        for file in graph.keys() {
            if let Some(cycle) = cycle_through(&graph, file) {
                let folder = folder.strip_prefix(&src).unwrap().display();
                cycles.push(format!("{folder}/: {}", cycle.join(" → ")));
                break;
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles inside a folder:\n{}",
        cycles.join("\n")
    );
    // The checker sees the edges it must: nn's layers use the kernels.
    let nn = folder_graph(&src, &src.join("nn"));
    assert!(nn["layer"].contains("kernels"), "{nn:?}");
    assert!(nn["mlp"].contains("registry"), "{nn:?}");
}

#[test]
fn the_folder_checker_reads_groups_tests_and_reexports() {
    let found = paths_after(
        "use super::{config::X, records};\nsuper::super::y(); // super::z",
        "super::",
    );
    assert_eq!(
        found,
        ["config", "records"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let items = reexported_items("pub mod a;\npub use a::{B, c as D};\npub use e::F;\n");
    assert_eq!(items["B"], "a");
    assert_eq!(items["D"], "a");
    assert_eq!(items["F"], "e");
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
