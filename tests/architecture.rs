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
        let mut text = std::fs::read_to_string(file).unwrap();
        if from == "report" {
            // The one thing of `measure` the report may name: the measures'
            // names (`measure::names`), the vocabulary of records; nothing
            // that computes.
            text = text.replace("crate::measure::names::", "");
        }
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
/// the file it comes from. `mod.rs` is a node too (`mod`): it declares
/// every file, so it depends on them all, and a file that uses an item
/// defined in `mod.rs` closes a cycle. Shared items of a folder therefore
/// live in a file of their own, and `mod.rs` only declares, re-exports and
/// uses.
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
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            nodes.insert(name, path);
        }
    }
    let mod_text = std::fs::read_to_string(folder.join("mod.rs")).unwrap_or_default();
    let reexports = reexported_items(&mod_text);
    // A name that is neither a file nor re-exported from one is defined in
    // (or privately imported into) `mod.rs`.
    let resolve = |name: &str| -> Option<String> {
        if name == "*" || name == "self" {
            None
        } else if nodes.contains_key(name) {
            Some(name.to_string())
        } else {
            Some(
                reexports
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "mod".to_string()),
            )
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
            // level deeper in a file of a subfolder (a subfolder's `mod.rs`
            // is that subfolder's own module), and in a test module.
            let mut depth =
                file.parent().unwrap().components().count() - folder.components().count();
            if depth > 0 && file.file_name().is_some_and(|n| n == "mod.rs") {
                depth -= 1;
            }
            let (main, tests) = match text.find("#[cfg(test)]\nmod ") {
                Some(at) => text.split_at(at),
                None => (text.as_str(), ""),
            };
            let super_of = |extra: usize| "super::".repeat(depth + 1 + extra);
            let mut names = paths_after(main, &super_of(0));
            names.extend(paths_after(tests, &super_of(1)));
            names.extend(paths_after(&text, &format!("crate::{module_path}::")));
            targets.extend(names.iter().filter_map(|name| resolve(name)));
        }
        if node == "mod" {
            targets.extend(declared_modules(&mod_text));
        }
        targets.remove(node);
        graph.insert(node.clone(), targets);
    }
    graph
}

/// The modules a `mod.rs` declares (`mod x;`, `pub mod x;`, …).
fn declared_modules(mod_text: &str) -> BTreeSet<String> {
    mod_text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let declaration = line.strip_suffix(';')?;
            let name = declaration.rsplit("mod ").next()?;
            let is_module = declaration.ends_with(&format!("mod {name}"))
                && !name.contains(' ')
                && (line.starts_with("mod ") || line.starts_with("pub"));
            is_module.then(|| name.to_string())
        })
        .collect()
}

/// `item → file` for every `pub use file::{Item, …}` (or `pub(crate) use`)
/// of a `mod.rs`.
fn reexported_items(mod_text: &str) -> BTreeMap<String, String> {
    let code: String = mod_text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut items = BTreeMap::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(rest) = ["pub use ", "pub(crate) use "]
            .iter()
            .find_map(|prefix| statement.strip_prefix(prefix))
        else {
            continue;
        };
        let Some((file, path)) = rest.split_once("::") else {
            continue;
        };
        // `a::{B, c as D}`, `a::b::{C}` or `a::b::C`: the names after the
        // last `::` outside braces, or inside the braces.
        let list = match path.find('{') {
            Some(at) => path[at + 1..].trim_end().trim_end_matches('}'),
            None => path.rsplit("::").next().unwrap_or(path),
        };
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
/// `prefix{a, b::c}` group, over several lines too), comments excluded.
fn paths_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let identifier = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '*')
            .collect()
    };
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
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
    let text = "use super::{\n    config::X,\n    records, // super::z\n};\nsuper::super::y();\n";
    let found = paths_after(text, "super::");
    assert_eq!(
        found,
        ["config", "records"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let mod_text = "pub mod a;\nmod e;\npub use a::{B, c as D};\npub use e::f::G;\npub(crate) use e::{\n    H,\n};\n";
    let items = reexported_items(mod_text);
    assert_eq!(items["B"], "a");
    assert_eq!(items["D"], "a");
    assert_eq!(items["G"], "e");
    assert_eq!(items["H"], "e");
    let declared = declared_modules(mod_text);
    assert_eq!(declared, ["a", "e"].iter().map(|s| s.to_string()).collect());
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
