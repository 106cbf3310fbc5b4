//! Every relative link of README.md, CHANGELOG.md and the guide (`docs/`)
//! points at a file that exists, and the guide's table of contents lists
//! every chapter.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files whose links are checked.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    files.extend(chapters);
    files
}

/// The targets of the inline links and images of a Markdown text
/// (`[text](target)`, `![alt](target)`), outside code blocks and spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
            continue;
        }
        if in_code_block {
            continue;
        }
        // Code spans may hold `](` that is no link.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            // `[a](b "title")`: the target is the first word.
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// A link that leaves the repository's files: a web address, a mail
/// address, or an anchor on the same page.
fn is_external(target: &str) -> bool {
    target.is_empty()
        || target.starts_with('#')
        || target.contains("://")
        || target.starts_with("mailto:")
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        for target in link_targets(&text) {
            if is_external(&target) {
                continue;
            }
            let path = target.split('#').next().unwrap();
            let resolved = document.parent().unwrap().join(path);
            checked += 1;
            if !resolved.exists() {
                let name = document.strip_prefix(root()).unwrap().display();
                broken.push(format!("{name}: {target}"));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the parser blind?"
    );
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_table_of_contents_lists_every_chapter() {
    let summary = std::fs::read_to_string(root().join("docs/SUMMARY.md")).unwrap();
    let listed = link_targets(&summary);
    for chapter in documents() {
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        let in_docs = chapter.parent() == Some(Path::new(&root().join("docs")));
        if in_docs && name != "SUMMARY.md" {
            assert!(
                listed.contains(&name),
                "docs/SUMMARY.md does not list {name}"
            );
        }
    }
}

#[test]
fn the_link_reader_finds_links_and_skips_code() {
    let text = "See [a](docs/a.md) and ![b](plots/b.png \"t\").\n`[x](y)`\n```\n[c](d)\n```\n[e](https://x.org) [f](#g)";
    let targets = link_targets(text);
    assert_eq!(targets, ["docs/a.md", "plots/b.png", "https://x.org", "#g"]);
    assert!(is_external("https://x.org") && is_external("#g") && !is_external("docs/a.md"));
}
