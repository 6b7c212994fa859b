//! The mutant catalogue: read from `verification/mutants.sh` (its
//! `CATALOGUE` block is the single source of truth), each mutant built and
//! run against the check that should kill it, the killing evidence saved.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::exec::{self, Status};
use crate::Ctx;

/// One catalogue entry.
#[derive(Clone, Debug, Serialize)]
pub struct Mutant {
    /// The mutant's name (`VICTIM_POOL_MUTANT`).
    pub name: String,
    /// `loom`, `shuttle`, `differential` or `miri`.
    pub tool: String,
    /// The test expected to kill it (`-` for the differential test).
    pub test: String,
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

/// Parses the `CATALOGUE="..."` block of `verification/mutants.sh`.
pub fn catalogue(root: &Path) -> Result<Vec<Mutant>, String> {
    let path = root.join("verification/mutants.sh");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the mutant catalogue {}: {e}", path.display()))?;
    let start = text
        .find("CATALOGUE=\"")
        .ok_or_else(|| format!("{}: no CATALOGUE block", path.display()))?;
    let body = &text[start + "CATALOGUE=\"".len()..];
    let end = body
        .find('"')
        .ok_or_else(|| format!("{}: unterminated CATALOGUE block", path.display()))?;
    let mutants: Vec<Mutant> = body[..end]
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split('|');
            let (name, tool, test) = (f.next()?, f.next()?, f.next()?);
            (!name.is_empty()).then(|| Mutant {
                name: name.to_string(),
                tool: tool.to_string(),
                test: test.to_string(),
            })
        })
        .collect();
    if mutants.is_empty() {
        return Err(format!("{}: the CATALOGUE block is empty", path.display()));
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

const EVIDENCE: [&str; 9] = [
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
        cmd.current_dir(&ctx.root)
            .env("VICTIM_POOL_MUTANT", &m.name)
            .env_remove("RUSTFLAGS");
        let exact = ["--", "--exact", m.test.as_str(), "--test-threads=1"];
        match m.tool.as_str() {
            "loom" => {
                cmd.env("CARGO_TARGET_DIR", ctx.out.join("loom"))
                    .env("RUSTFLAGS", "--cfg loom")
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
                    .env("RUSTFLAGS", "--cfg shuttle")
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
            other => {
                let why = if other == "miri" {
                    "Miri mutants run in the deep tier only"
                } else {
                    "unknown tool in the catalogue"
                };
                kills.push(Kill {
                    mutant: m.clone(),
                    status: Status::Skipped,
                    killed: false,
                    seconds: 0.0,
                    evidence: why.to_string(),
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
        let killed = r.status == Status::Failed;
        let mut replay_file = None;
        let replay = match m.tool.as_str() {
            "loom" => format!(
                "deterministic: VICTIM_POOL_MUTANT={} LOOM_MAX_PREEMPTIONS={loom_bound} RUSTFLAGS=\"--cfg loom\" cargo test --release -p victim-pool-verification --test loom -- --exact {}",
                m.name, m.test
            ),
            "shuttle" => match shuttle_schedule(&text) {
                Some(s) => {
                    let _ = std::fs::write(dir.join("schedule.txt"), &s);
                    format!(
                        "VICTIM_POOL_MUTANT={} SHUTTLE_REPLAY={s} RUSTFLAGS=\"--cfg shuttle\" cargo test --release -p victim-pool-verification --test shuttle -- --exact {}",
                        m.name, m.test
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
            _ => String::new(),
        };
        let kill = Kill {
            mutant: m.clone(),
            status: r.status,
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
        .env("VICTIM_POOL_MUTANT", &m.name)
        .env_remove("RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "build",
            "--release",
            "-p",
            "victim-pool-verification",
            "--bin",
            "poolcheck",
        ]);
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
