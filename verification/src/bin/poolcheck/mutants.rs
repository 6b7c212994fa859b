//! The mutant catalogue: read from `verification/mutants.txt` (the one list
//! of mutants, shared with `verification/mutants.sh`), each mutant built
//! with `--cfg victim_pool_mutant="NAME"` and run against the check that
//! should kill it, the killing evidence saved.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::context::Ctx;
use crate::exec::{self, Status};

/// One catalogue entry.
#[derive(Clone, Debug, Serialize)]
pub struct Mutant {
    /// The mutant's name (the `victim_pool_mutant` cfg value).
    pub name: String,
    /// The checker: one of [`CHECKERS`].
    pub tool: String,
    /// The test expected to kill it (`-` for the differential test; the
    /// arguments of `cargo test` for the `test` checker: a debug build
    /// unless they say `--release`, so debug assertions can kill).
    pub test: String,
    /// The rule of the protocol the mutant breaks.
    pub rule: String,
}

/// The checkers a catalogue row can name.
pub const CHECKERS: [&str; 6] = ["loom", "shuttle", "miri", "differential", "go-diff", "test"];

/// Makes `cmd` (a cargo command) build the workspace's crates as `mutant`:
/// `verification/mutant-rustc` as `RUSTC_WORKSPACE_WRAPPER`, copied to
/// `out/wrappers/<mutant>` (it takes the mutant's name from its own file
/// name), so the dependencies built for the real core are shared by every
/// mutant; `RUSTFLAGS` is set to `base`. Miri ignores workspace wrappers:
/// its mutants use [`rustflags`] instead.
fn wrap(
    cmd: &mut Command,
    root: &Path,
    out: &Path,
    base: &str,
    mutant: &str,
) -> Result<(), String> {
    let dir = out.join("wrappers");
    let wrapper = dir.join(mutant);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::copy(root.join("verification/mutant-rustc"), &wrapper))
        .map_err(|e| {
            format!(
                "cannot install the mutant wrapper {}: {e}",
                wrapper.display()
            )
        })?;
    cmd.env("RUSTC_WORKSPACE_WRAPPER", wrapper)
        .env("RUSTFLAGS", base);
    Ok(())
}

/// The `RUSTFLAGS` that build `mutant`, after `base` (`--cfg loom`, …).
pub fn rustflags(base: &str, mutant: &str) -> String {
    let cfg = format!("--cfg victim_pool_mutant=\"{mutant}\"");
    if base.is_empty() {
        cfg
    } else {
        format!("{base} {cfg}")
    }
}

/// The outcome for one mutant.
#[derive(Clone, Debug, Serialize)]
pub struct Kill {
    /// The mutant.
    pub mutant: Mutant,
    /// `Failed` = killed; `Passed` = survived; `Skipped`; `BuildError`;
    /// `TimedOut`.
    pub status: Status,
    /// Whether the mutant was killed.
    pub killed: bool,
    /// Seconds (including the rebuild).
    pub seconds: f64,
    /// What killed it (first matching line of the log).
    pub evidence: String,
    /// How to replay the kill.
    pub replay: String,
    /// Where the evidence was saved.
    pub saved: PathBuf,
    /// A `poolcheck replay` file, for mutants the differential fuzzer kills.
    pub replay_file: Option<PathBuf>,
}

/// Reads `verification/mutants.txt`.
pub fn catalogue(root: &Path) -> Result<Vec<Mutant>, String> {
    let path = root.join("verification/mutants.txt");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the mutant catalogue {}: {e}", path.display()))?;
    parse_catalogue(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the catalogue: `name | checker | test | rule broken` per row;
/// blank lines and lines starting with `#` are skipped.
pub fn parse_catalogue(text: &str) -> Result<Vec<Mutant>, String> {
    let mut mutants: Vec<Mutant> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, tool, test, rule] = fields[..] else {
            return Err(format!(
                "line {}: want `name | checker | test | rule broken`, got {line:?}",
                n + 1
            ));
        };
        let valid_name = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if name.is_empty() || !valid_name(name) || test.is_empty() || rule.is_empty() {
            return Err(format!("line {}: malformed row {line:?}", n + 1));
        }
        if !CHECKERS.contains(&tool) {
            return Err(format!(
                "line {}: {name}: unknown checker {tool:?} (one of {})",
                n + 1,
                CHECKERS.join(", ")
            ));
        }
        if mutants.iter().any(|m| m.name == name) {
            return Err(format!("line {}: mutant {name} listed twice", n + 1));
        }
        mutants.push(Mutant {
            name: name.to_string(),
            tool: tool.to_string(),
            test: test.to_string(),
            rule: rule.to_string(),
        });
    }
    if mutants.is_empty() {
        return Err("no mutants listed".to_string());
    }
    Ok(mutants)
}

/// Selects `only` from the catalogue (error on an unknown name).
pub fn select(all: Vec<Mutant>, only: &[String]) -> Result<Vec<Mutant>, String> {
    if only.is_empty() {
        return Ok(all);
    }
    for name in only {
        if !all.iter().any(|m| &m.name == name) {
            let known: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
            return Err(format!(
                "unknown mutant {name:?}; known: {}",
                known.join(", ")
            ));
        }
    }
    Ok(all.into_iter().filter(|m| only.contains(&m.name)).collect())
}

const EVIDENCE: [&str; 10] = [
    "DIVERGENCE:",
    "Causality violation",
    "not linearizable",
    "Undefined Behavior",
    "returned twice",
    "exactly once",
    "conservation",
    "VERIFY_SEED=",
    "lock-free",
    "panicked at",
];

/// The failing schedule shuttle printed in `log`, if any.
pub fn shuttle_schedule(log: &str) -> Option<String> {
    let mut lines = log.lines().skip_while(|l| !l.contains("failing schedule"));
    lines.next()?;
    lines
        .take(4)
        .map(|l| l.trim().trim_matches('"'))
        .find(|l| l.len() > 8 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_string)
}

/// Runs each mutant of `list`; `miri` says whether Miri mutants run (deep
/// tier) or are reported as skipped.
pub fn run(
    ctx: &Ctx,
    list: &[Mutant],
    miri: bool,
    deadline: Instant,
    bar: &ProgressBar,
) -> Vec<Kill> {
    let mut kills = Vec::new();
    let loom_bound = ctx.loom_bound.to_string();
    for m in list {
        bar.set_message(format!("{} ({})", m.name, m.tool));
        let dir = ctx.out.join("mutants").join(&m.name);
        let _ = std::fs::create_dir_all(&dir);
        let log = dir.join("log.txt");
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&ctx.root);
        let base = match m.tool.as_str() {
            "loom" => "--cfg loom",
            "shuttle" => "--cfg shuttle",
            _ => "",
        };
        let wrapped = if m.tool == "miri" {
            cmd.env("RUSTFLAGS", rustflags("", &m.name));
            Ok(())
        } else {
            wrap(&mut cmd, &ctx.root, &ctx.out, base, &m.name)
        };
        if let Err(e) = wrapped {
            kills.push(Kill {
                mutant: m.clone(),
                status: Status::BuildError,
                killed: false,
                seconds: 0.0,
                evidence: e,
                replay: String::new(),
                saved: dir,
                replay_file: None,
            });
            bar.inc(1);
            continue;
        }
        let exact = ["--", "--exact", m.test.as_str(), "--test-threads=1"];
        match m.tool.as_str() {
            "loom" => {
                cmd.env("CARGO_TARGET_DIR", ctx.out.join("loom"))
                    .env("LOOM_MAX_PREEMPTIONS", &loom_bound)
                    .args([
                        "test",
                        "--release",
                        "-p",
                        "victim-pool-verification",
                        "--test",
                        "loom",
                    ])
                    .args(exact);
            }
            "shuttle" => {
                cmd.env("CARGO_TARGET_DIR", ctx.out.join("shuttle"))
                    .env("SHUTTLE_SECS", ctx.shuttle_secs.to_string())
                    .args([
                        "test",
                        "--release",
                        "-p",
                        "victim-pool-verification",
                        "--test",
                        "shuttle",
                    ])
                    .args(exact);
            }
            "differential" => {
                cmd.env("CARGO_TARGET_DIR", ctx.out.join("std")).args([
                    "test",
                    "--release",
                    "-p",
                    "victim-pool-verification",
                    "--test",
                    "differential",
                ]);
            }
            "go-diff" => {
                cmd.env("CARGO_TARGET_DIR", ctx.out.join("std"))
                    .env("VICTIM_POOL_MUTANT", &m.name)
                    .args([
                        "run",
                        "--release",
                        "-p",
                        "victim-pool-verification",
                        "--bin",
                        "poolcheck",
                        "--",
                        "go-diff",
                        "--no-progress",
                        "--dir",
                    ])
                    .arg(&dir)
                    .args(m.test.split_whitespace());
            }
            "test" => {
                cmd.env("CARGO_TARGET_DIR", ctx.out.join("std"))
                    .arg("test")
                    .args(m.test.split_whitespace());
            }
            "miri" if miri => {
                cmd.env("CARGO_TARGET_DIR", ctx.out.join("miri"))
                    .env(
                        "MIRIFLAGS",
                        "-Zmiri-many-seeds=0..16 -Zmiri-preemption-rate=0.1",
                    )
                    .args([
                        "+nightly",
                        "miri",
                        "test",
                        "-p",
                        "victim-pool-verification",
                        "--test",
                        "stress",
                    ])
                    .args(["--", "--exact", m.test.as_str()]);
            }
            _ => {
                // `catalogue` admits only the CHECKERS: this is Miri in the
                // quick tier.
                kills.push(Kill {
                    mutant: m.clone(),
                    status: Status::Skipped,
                    killed: false,
                    seconds: 0.0,
                    evidence: "Miri mutants run in the deep tier only".to_string(),
                    replay: String::new(),
                    saved: dir,
                    replay_file: None,
                });
                bar.inc(1);
                continue;
            }
        }
        let r = exec::run(cmd, &log, deadline, &ProgressBar::hidden());
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // The most specific evidence first (a loom "Causality violation"
        // rather than the panic location that precedes it).
        let evidence = EVIDENCE
            .iter()
            .find_map(|e| text.lines().find(|l| l.contains(e)))
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect::<String>();
        let mut status = r.status;
        // go-diff kills by a divergence (exit 1) only: an error (no Go, a
        // failed Go build: exit 2) is no kill.
        if m.tool == "go-diff" && status == Status::Failed && !text.contains("DIVERGE from") {
            status = Status::BuildError;
        }
        let killed = status == Status::Failed;
        let mut replay_file = None;
        let replay = match m.tool.as_str() {
            "loom" => format!(
                "deterministic: LOOM_MAX_PREEMPTIONS={loom_bound} RUSTFLAGS='{}' cargo test --release -p victim-pool-verification --test loom -- --exact {}",
                rustflags("--cfg loom", &m.name),
                m.test
            ),
            "shuttle" => match shuttle_schedule(&text) {
                Some(s) => {
                    let _ = std::fs::write(dir.join("schedule.txt"), &s);
                    format!(
                        "SHUTTLE_REPLAY={s} RUSTFLAGS='{}' cargo test --release -p victim-pool-verification --test shuttle -- --exact {}",
                        rustflags("--cfg shuttle", &m.name),
                        m.test
                    )
                }
                None => "schedule not found in the log".to_string(),
            },
            "differential" => {
                let seed = text
                    .split("VERIFY_SEED=")
                    .nth(1)
                    .map(|s| s.chars().take_while(char::is_ascii_digit).collect::<String>());
                if killed {
                    replay_file = fuzz_kill(ctx, m, &dir, deadline);
                }
                match seed {
                    Some(s) => format!("VERIFY_SEED={s} (tests/differential.rs)"),
                    None => String::new(),
                }
            }
            "go-diff" => {
                replay_file = std::fs::read_dir(&dir).ok().and_then(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.path())
                        .find(|p| p.extension().is_some_and(|x| x == "json") && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("go-")))
                });
                format!(
                    "RUSTFLAGS='{}' poolcheck go-diff {}",
                    rustflags("", &m.name),
                    m.test
                )
            }
            "test" => format!(
                "RUSTFLAGS='{}' cargo test {}",
                rustflags("", &m.name),
                m.test
            ),
            _ => String::new(),
        };
        let kill = Kill {
            mutant: m.clone(),
            status,
            killed,
            seconds: r.seconds,
            evidence,
            replay,
            saved: dir.clone(),
            replay_file,
        };
        if let Ok(json) = serde_json::to_string_pretty(&kill) {
            let _ = std::fs::write(dir.join("kill.json"), json);
        }
        kills.push(kill);
        bar.inc(1);
    }
    kills
}

/// Builds `poolcheck` as the mutant (in the std target dir) and fuzzes
/// until the first failure: a file `poolcheck replay` can render.
fn fuzz_kill(ctx: &Ctx, m: &Mutant, dir: &Path, deadline: Instant) -> Option<PathBuf> {
    let target = ctx.out.join("std");
    let mut build = Command::new("cargo");
    build
        .current_dir(&ctx.root)
        // Names the build for `poolcheck fuzz`'s failure files
        // (`failure::built_mutant`); the wrapper does the mutating.
        .env("VICTIM_POOL_MUTANT", &m.name)
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "build",
            "--release",
            "-p",
            "victim-pool-verification",
            "--bin",
            "poolcheck",
        ]);
    if wrap(&mut build, &ctx.root, &ctx.out, "", &m.name).is_err() {
        return None;
    }
    let r = exec::run(
        build,
        &dir.join("build-poolcheck.txt"),
        deadline,
        &ProgressBar::hidden(),
    );
    if r.status != Status::Passed {
        return None;
    }
    let failures = dir.join("failures");
    let _ = std::fs::remove_dir_all(&failures);
    let mut cmd = Command::new(target.join("release/poolcheck"));
    cmd.args([
        "fuzz",
        "--threads",
        "1",
        "--budget",
        "30s",
        "--seed",
        "1",
        "--stop-on-failure",
        "--no-progress",
        "--dir",
    ])
    .arg(&failures);
    let _ = exec::run(cmd, &dir.join("fuzz.txt"), deadline, &ProgressBar::hidden());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&failures)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Every `victim_pool_mutant = "…"` value written in the core's source.
    /// The mutants of the core (src/) and of the reference (reference/src/,
    /// judged by go-diff).
    fn cfgs_in_src() -> Vec<String> {
        let mut names = Vec::new();
        let mut stack = vec![root().join("src"), root().join("reference/src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read src/") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read source");
                    for part in text.split("victim_pool_mutant = \"").skip(1) {
                        let name: String = part.chars().take_while(|&c| c != '"').collect();
                        if !names.contains(&name) {
                            names.push(name);
                        }
                    }
                }
            }
        }
        names.sort();
        names
    }

    #[test]
    fn catalogue_matches_the_mutants_in_src() {
        let catalogue = catalogue(&root()).expect("verification/mutants.txt parses");
        let mut listed: Vec<String> = catalogue.iter().map(|m| m.name.clone()).collect();
        listed.sort();
        assert_eq!(
            listed,
            cfgs_in_src(),
            "verification/mutants.txt and the cfg'd alternatives in src/ and reference/src/ differ"
        );
        assert!(catalogue
            .iter()
            .all(|m| m.tool != "differential" || m.test == "-"));
    }

    #[test]
    fn malformed_catalogues_are_rejected() {
        let ok = "# comment\n\na | loom | t | rule\n";
        assert_eq!(parse_catalogue(ok).map(|m| m.len()), Ok(1));
        let err = |text: &str| parse_catalogue(text).expect_err(text);
        assert!(err("a | loom | t\n").contains("want `name | checker | test | rule broken`"));
        assert!(err("a | lom | t | r\n").contains("unknown checker \"lom\""));
        assert!(err("a | loom | t | r\na | miri | u | r\n").contains("listed twice"));
        assert!(err("A-b | loom | t | r\n").contains("malformed row"));
        assert!(err("# only comments\n").contains("no mutants"));
    }

    #[test]
    fn rustflags_select_the_mutant() {
        assert_eq!(rustflags("", "m"), "--cfg victim_pool_mutant=\"m\"");
        assert_eq!(
            rustflags("--cfg loom", "m"),
            "--cfg loom --cfg victim_pool_mutant=\"m\""
        );
    }
}
