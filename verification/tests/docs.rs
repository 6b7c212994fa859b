//! The repository's text says only what is true: every `poolcheck` command
//! and flag the documents show exists, every file and test target they name
//! exists, every lesson of the catalogue has a stop in the tour, the exit
//! codes quoted are the ones `--help` prints, and no text names a tracker
//! number or a fact of one build machine. Seconds: it reads files and runs
//! `poolcheck --help` per subcommand.
#![cfg(not(any(loom, shuttle)))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The documents a reader follows, relative to the workspace root.
const DOCUMENTS: &[&str] = &[
    "README.md",
    "DESIGN.md",
    "CHANGELOG.md",
    "src/lib.md",
    "verification/README.md",
    "verification/TOUR.md",
    "verification/src/bin/poolcheck/README.md",
    "benches/README.md",
    "fuzz/README.md",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn documents() -> Vec<(PathBuf, String)> {
    DOCUMENTS
        .iter()
        .map(|d| root().join(d))
        .filter(|p| p.is_file())
        .map(|p| {
            let text = read(&p);
            (p, text)
        })
        .collect()
}

/// The code of a Markdown text: fenced blocks, line by line, and inline
/// code spans.
fn code(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push(line.to_string());
            continue;
        }
        let mut spans = line.split('`');
        spans.next();
        while let Some(span) = spans.next() {
            out.push(span.to_string());
            spans.next();
        }
    }
    out
}

fn poolcheck(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_poolcheck"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run poolcheck");
    assert!(out.status.success(), "poolcheck {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The subcommands `poolcheck --help` lists.
fn subcommands() -> BTreeSet<String> {
    let help = poolcheck(&["--help"]);
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every `poolcheck SUBCOMMAND --flag …` shown in the documents: the
/// subcommand, each flag, and where.
fn documented_commands() -> Vec<(String, Vec<String>, String)> {
    let mut out = Vec::new();
    for (path, text) in documents() {
        for line in code(&text) {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            for (i, t) in tokens.iter().enumerate() {
                if !t.ends_with("poolcheck") || t.ends_with("/src/bin/poolcheck") {
                    continue;
                }
                let mut rest = tokens[i + 1..].iter().copied().peekable();
                if rest.peek() == Some(&"--") {
                    rest.next();
                }
                let Some(sub) = rest.next() else { continue };
                if !sub.chars().all(|c| c.is_ascii_lowercase()) || sub.is_empty() {
                    continue;
                }
                let flags = rest
                    .take_while(|t| !matches!(*t, "#" | "|" | "&&" | ";" | "||" | ">"))
                    .filter(|t| t.starts_with("--") && t.len() > 2)
                    .map(|t| {
                        let t = t.split('=').next().unwrap_or(t);
                        t.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                            .to_string()
                    })
                    .collect();
                out.push((sub.to_string(), flags, path.display().to_string()));
            }
        }
    }
    out
}

#[test]
fn documented_poolcheck_commands_and_flags_exist() {
    let subcommands = subcommands();
    let commands = documented_commands();
    assert!(
        commands.len() > 20,
        "the documents show poolcheck commands: {commands:?}"
    );
    let mut helps = std::collections::BTreeMap::new();
    for (sub, flags, doc) in &commands {
        if sub == "help" {
            continue;
        }
        assert!(
            subcommands.contains(sub),
            "{doc}: `poolcheck {sub}`, but poolcheck has no such subcommand ({subcommands:?})"
        );
        let help = helps
            .entry(sub.clone())
            .or_insert_with(|| poolcheck(&[sub, "--help"]));
        for flag in flags {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "{doc}: `poolcheck {sub} {flag}`, but `poolcheck {sub} --help` has no {flag}"
            );
        }
    }
}

/// A repository path in a code span or a link: a file or directory that
/// must exist (relative to the document or to the root).
fn is_repo_path(s: &str) -> bool {
    const TOP: &[&str] = &[
        "src/",
        "tests/",
        "examples/",
        "verification/",
        "reference/",
        "benches/",
        "fuzz/",
        ".ci/",
    ];
    !s.is_empty()
        && !s.contains(|c: char| c.is_whitespace() || "<>*$…{}|,'\"()".contains(c))
        && !s.contains("NAME")
        && !s.contains("FILE")
        && !s.starts_with("target/")
        // Written by the fuzzer when it finds a crash.
        && !s.starts_with("fuzz/artifacts/")
        // A file (`name.ext`) or a directory (`dir/`): `src/sync` is Go's.
        && (s.ends_with('/') || s.rsplit('/').next().is_some_and(|f| f.contains('.')))
        && (TOP.iter().any(|t| s.starts_with(t)) || s.ends_with(".md") || s.ends_with(".rs"))
}

#[test]
fn documented_files_exist() {
    let root = root();
    let mut files = Vec::new();
    text_files(&root, &mut files);
    let names: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let mut checked = 0;
    for (path, text) in documents() {
        let dir = path.parent().unwrap().to_path_buf();
        // Paths may be relative to the document's crate (`tests/stress.rs`
        // in verification/).
        let krate = dir
            .ancestors()
            .find(|d| d.join("Cargo.toml").is_file())
            .unwrap_or(&root)
            .to_path_buf();
        let mut candidates: Vec<String> = code(&text);
        // Relative Markdown links: `](target)`.
        for part in text.split("](").skip(1) {
            if let Some(end) = part.find(')') {
                let target = &part[..end];
                if !target.contains("://") && !target.starts_with('#') && !target.contains('`') {
                    candidates.push(target.to_string());
                }
            }
        }
        for c in candidates {
            let c = c.split('#').next().unwrap_or("");
            // `src/chain.rs:334` names a line of a file.
            let c = match c.rsplit_once(':') {
                Some((file, line)) if line.chars().all(|ch| ch.is_ascii_digit()) => file,
                _ => c,
            };
            if !is_repo_path(c) {
                continue;
            }
            checked += 1;
            // A bare file name (`sync.rs`) names a file somewhere.
            let bare = !c.contains('/') && names.contains(c);
            assert!(
                bare || dir.join(c).exists() || krate.join(c).exists() || root.join(c).exists(),
                "{}: names `{c}`, which does not exist",
                path.display()
            );
        }
    }
    assert!(checked > 50, "only {checked} paths checked");
}

#[test]
fn documented_test_targets_and_examples_exist() {
    let root = root();
    for (path, text) in documents() {
        for line in code(&text) {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            for pair in tokens.windows(2) {
                let (dirs, name): (&[&str], &str) = match pair[0] {
                    "--test" => (&["tests", "verification/tests", "reference/tests"], pair[1]),
                    "--example" => (&["examples"], pair[1]),
                    "--bench" => (&["benches"], pair[1]),
                    _ => continue,
                };
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue;
                }
                assert!(
                    dirs.iter()
                        .any(|d| root.join(d).join(format!("{name}.rs")).is_file()),
                    "{}: `{} {name}`, but there is no {name}.rs in {dirs:?}",
                    path.display(),
                    pair[0]
                );
            }
        }
    }
}

/// The catalogue's mutant names.
fn mutants() -> Vec<String> {
    read(&root().join("verification/mutants.txt"))
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('|'))
        .map(|l| l.split('|').next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn every_lesson_has_a_tour_stop() {
    let tour = read(&root().join("verification/TOUR.md"));
    let all = mutants();
    assert!(all.len() > 10);
    for m in all {
        assert!(
            tour.contains(&format!("poolcheck explain {m}\n")),
            "verification/TOUR.md has no stop with `poolcheck explain {m}`"
        );
    }
}

#[test]
fn quoted_exit_codes_are_the_ones_help_prints() {
    let help = poolcheck(&["--help"]);
    let line = help
        .lines()
        .find(|l| l.starts_with("Exit codes:"))
        .expect("`poolcheck --help` states its exit codes");
    for (path, text) in documents() {
        for quoted in text
            .lines()
            .filter_map(|l| l.trim_start_matches("> ").strip_prefix("Exit codes:"))
        {
            assert_eq!(
                format!("Exit codes:{quoted}"),
                line,
                "{}: exit codes differ from `poolcheck --help`",
                path.display()
            );
        }
    }
}

/// Every text file of the repository under `dir` (not `target/`, not
/// hidden directories but `.ci`, not the fuzz corpus).
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name == "target" || name == "corpus" || (name.starts_with('.') && name != ".ci") {
                continue;
            }
            text_files(&path, out);
        } else if [".rs", ".md", ".sh", ".toml", ".txt", ".py", ".go"]
            .iter()
            .any(|e| name.ends_with(e))
            || name == "run"
            || name == "mutant-rustc"
        {
            out.push(path);
        }
    }
}

#[test]
fn no_tracker_numbers_or_build_machine_facts() {
    let root = root();
    let mut files = Vec::new();
    text_files(&root, &mut files);
    assert!(files.len() > 50);
    let this = Path::new(file!()).file_name().unwrap();
    for file in files {
        if file.file_name() == Some(this) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        // Benchmark figures say what they were measured on (the project's
        // rule for speed numbers); nothing else names a machine.
        let machine = !rel.starts_with("benches/");
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let tracker = lower
                .match_indices("issue ")
                .any(|(i, _)| lower[i + 6..].starts_with(|c: char| c.is_ascii_digit()));
            assert!(!tracker, "{rel}:{}: a tracker number: {line}", n + 1);
            if machine {
                for fact in [
                    "2 cores",
                    "2 shared cores",
                    "two cores",
                    "this machine",
                    "/work/",
                ] {
                    assert!(
                        !lower.contains(fact),
                        "{rel}:{}: a fact of one build machine ({fact:?}): {line}",
                        n + 1
                    );
                }
            }
        }
    }
}
