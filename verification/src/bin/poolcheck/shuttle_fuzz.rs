//! `poolcheck fuzz --shuttle`: shuttle-scheduled concurrent histories. A
//! shuttle build needs `RUSTFLAGS="--cfg shuttle"`, so the scenarios of
//! `verification/tests/shuttle.rs` run as `cargo test` subprocesses, one
//! test at a time, in their own target dir (`<out>/shuttle-fuzz`). Each
//! test's schedules/s is reported as it finishes; a failing test's schedule
//! is saved as a replayable failure file (`poolcheck replay` re-runs it
//! with `SHUTTLE_REPLAY`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;

use crate::exec;
use crate::failure::{built_mutant, save, Failure, Kind, ShuttleCase, FORMAT};

impl ShuttleCase {
    /// The shell command that replays the case.
    pub fn command(&self, mutant: Option<&str>) -> String {
        format!(
            "{}RUSTFLAGS='{}' cargo test --release -p victim-pool-verification --test shuttle -- --exact {} --nocapture",
            self.schedule
                .as_ref()
                .map_or_else(String::new, |s| format!("SHUTTLE_REPLAY={s} ")),
            shuttle_rustflags(mutant),
            self.test
        )
    }
}

/// One shuttle test's exploration.
#[derive(Clone, Debug, Serialize)]
pub struct TestRun {
    /// The test.
    pub test: String,
    /// Schedules explored (both schedulers), from the test's report line.
    pub schedules: u64,
    /// Seconds the test reported.
    pub seconds: f64,
    /// Whether it passed.
    pub passed: bool,
}

/// Totals of `poolcheck fuzz --shuttle`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ShuttleStats {
    /// Per test.
    pub tests: Vec<TestRun>,
    /// Seconds exploring (the build excluded).
    pub seconds: f64,
    /// Failure files written.
    pub failures: Vec<PathBuf>,
}

/// A `cargo test --release --test shuttle` command for the shuttle build.
fn cargo(root: &Path, target: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .env("RUSTFLAGS", shuttle_rustflags(built_mutant().as_deref()))
        .args([
            "test",
            "--release",
            "-p",
            "victim-pool-verification",
            "--test",
            "shuttle",
        ]);
    cmd
}

/// `RUSTFLAGS` of the shuttle build: the same mutant as this binary.
fn shuttle_rustflags(mutant: Option<&str>) -> String {
    match mutant {
        Some(m) => crate::mutants::rustflags("--cfg shuttle", m),
        None => "--cfg shuttle".to_string(),
    }
}

/// Parses `shuttle <name>: N schedules in Ts (R/s), seed S`.
pub fn report_line(log: &str) -> Option<(u64, f64)> {
    log.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("shuttle ")?;
        let (_, rest) = rest.split_once(": ")?;
        let (n, rest) = rest.split_once(" schedules in ")?;
        let (secs, _) = rest.split_once("s (")?;
        Some((n.trim().parse().ok()?, secs.trim().parse().ok()?))
    })
}

/// Test names from `cargo test … -- --list` output (`name: test`).
pub fn test_names(list: &str) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.trim().strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

fn ensure_ok(r: &exec::ExecResult, what: &str) -> Result<(), String> {
    if r.status == exec::Status::Passed {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}; log {}): {}",
        r.status.label(),
        r.log.display(),
        r.excerpt.first().map_or("", String::as_str)
    ))
}

/// Builds the shuttle tests, then explores each for its share of `budget`
/// (split evenly: `SHUTTLE_SECS` = budget / (2 × tests), the tests run one
/// after the other, each with the random and the PCT scheduler), from
/// `VERIFY_SEED=seed`. Prints one line per test as it finishes.
pub fn fuzz(
    root: &Path,
    out: &Path,
    dir: &Path,
    budget: Duration,
    seed: u64,
    bar: &ProgressBar,
) -> Result<ShuttleStats, String> {
    let target = out.join("shuttle-fuzz");
    let logs = target.join("logs");
    let far = Instant::now() + Duration::from_secs(3600);
    bar.set_message("building the shuttle tests (RUSTFLAGS=\"--cfg shuttle\", release)");
    let mut build = cargo(root, &target);
    build.arg("--no-run");
    ensure_ok(
        &exec::run(build, &logs.join("build.txt"), far, bar),
        "the shuttle build",
    )?;
    let mut list = cargo(root, &target);
    list.args(["--", "--list"]);
    let listed = exec::run(list, &logs.join("list.txt"), far, bar);
    ensure_ok(&listed, "listing the shuttle tests")?;
    let names = test_names(&std::fs::read_to_string(&listed.log).unwrap_or_default());
    if names.is_empty() {
        return Err(format!(
            "no shuttle tests listed (see {})",
            listed.log.display()
        ));
    }
    let secs = (budget.as_secs_f64() / (2.0 * names.len() as f64)).max(0.05);
    let start = Instant::now();
    let mut stats = ShuttleStats::default();
    for (i, name) in names.iter().enumerate() {
        bar.set_message(format!(
            "shuttle {name} ({}/{}, {secs:.1}s per scheduler)",
            i + 1,
            names.len()
        ));
        let mut cmd = cargo(root, &target);
        cmd.env("SHUTTLE_SECS", format!("{secs:.3}"))
            .env("VERIFY_SEED", seed.to_string())
            .env_remove("SHUTTLE_REPLAY")
            .args(["--", "--exact", name, "--nocapture", "--test-threads=1"]);
        // Generous: shuttle stops at `max_time`, but a schedule in progress
        // finishes first (and the failing one shrinks nothing: no wait).
        let deadline = Instant::now() + Duration::from_secs_f64(secs * 4.0 + 120.0);
        let r = exec::run(cmd, &logs.join(format!("{name}.txt")), deadline, bar);
        let log = std::fs::read_to_string(&r.log).unwrap_or_default();
        let (schedules, seconds) = report_line(&log).unwrap_or((0, r.seconds));
        let passed = r.status == exec::Status::Passed;
        let line = if passed {
            format!(
                "  shuttle {name}: {schedules} schedules in {seconds:.1}s ({:.0}/s)",
                schedules as f64 / seconds.max(1e-9)
            )
        } else {
            let case = ShuttleCase {
                test: name.clone(),
                schedule: crate::mutants::shuttle_schedule(&log),
                excerpt: r.excerpt.clone(),
            };
            let failure = Failure {
                format: FORMAT.to_string(),
                kind: Kind::Shuttle,
                seed,
                mutant: built_mutant(),
                message: format!(
                    "shuttle {name}: {}",
                    r.excerpt
                        .iter()
                        .find(|l| l.contains("panicked"))
                        .or(r.excerpt.first())
                        .map_or_else(|| r.status.label().to_string(), String::clone)
                ),
                history: None,
                concurrent: None,
                observed: None,
                shuttle: Some(case),
                go: None,
            };
            let path = save(dir, &failure)?;
            let line = format!(
                "  shuttle {name}: {} (log {}), saved {}",
                r.status.label(),
                r.log.display(),
                path.display()
            );
            stats.failures.push(path);
            line
        };
        bar.suspend(|| println!("{line}"));
        stats.tests.push(TestRun {
            test: name.clone(),
            schedules,
            seconds,
            passed,
        });
    }
    stats.seconds = start.elapsed().as_secs_f64();
    Ok(stats)
}

/// Re-runs a saved shuttle failure: its schedule under `SHUTTLE_REPLAY`
/// (deterministic for the same build), with the core's recorder writing
/// the failing execution to `trace` (`VICTIM_POOL_TRACE`; the recorder adds
/// no scheduling point, so the schedule is the one that was found).
/// Returns whether it failed again and the run's lines of interest.
pub fn replay(
    root: &Path,
    out: &Path,
    case: &ShuttleCase,
    trace: &Path,
    bar: &ProgressBar,
) -> (bool, Vec<String>, PathBuf) {
    let target = out.join("shuttle-fuzz");
    let mut cmd = cargo(root, &target);
    if let Some(s) = &case.schedule {
        cmd.env("SHUTTLE_REPLAY", s);
    }
    let _ = std::fs::remove_file(trace);
    cmd.env("VICTIM_POOL_TRACE", trace);
    cmd.args([
        "--",
        "--exact",
        &case.test,
        "--nocapture",
        "--test-threads=1",
    ]);
    let far = Instant::now() + Duration::from_secs(3600);
    let r = exec::run(cmd, &target.join("logs/replay.txt"), far, bar);
    let failed = r.status == exec::Status::Failed;
    (failed, r.excerpt, r.log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_report_and_list_lines() {
        let log = "running 1 test\nshuttle pool_long_histories: 1234 schedules in 2.5s (494/s), seed 42\ntest pool_long_histories ... ok\n";
        assert_eq!(report_line(log), Some((1234, 2.5)));
        assert_eq!(report_line("test x ... ok\n"), None);
        let list =
            "chain_linearizable: test\ndequeue_linearizable: test\n\n2 tests, 0 benchmarks\n";
        assert_eq!(
            test_names(list),
            vec!["chain_linearizable", "dequeue_linearizable"]
        );
    }

    #[test]
    fn replay_command_carries_schedule_and_mutant() {
        let case = ShuttleCase {
            test: "pool_long_histories".into(),
            schedule: Some("91abc".into()),
            excerpt: Vec::new(),
        };
        assert_eq!(
            case.command(Some("m3")),
            "SHUTTLE_REPLAY=91abc RUSTFLAGS='--cfg shuttle --cfg victim_pool_mutant=\"m3\"' cargo test --release -p victim-pool-verification --test shuttle -- --exact pool_long_histories --nocapture"
        );
    }
}
