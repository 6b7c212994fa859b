//! `poolcheck run`: the CI verification job.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::context::Ctx;
use crate::exec::{self, ExecResult, Status, TestCase};
use crate::fuzz::{self, FuzzOptions};
use crate::mutants::{self, Kill};

/// Options of `poolcheck run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `quick` or `deep`.
    pub deep: bool,
    /// The whole job's budget.
    pub budget: Duration,
    /// JSON report path.
    pub json: Option<PathBuf>,
    /// JUnit XML path.
    pub junit: Option<PathBuf>,
}

/// One stage's result.
#[derive(Clone, Debug, Serialize)]
pub struct StageReport {
    /// Stage name.
    pub name: String,
    /// What it runs.
    pub command: String,
    /// How it ended.
    pub status: Status,
    /// Wall time.
    pub seconds: f64,
    /// Tests seen (passed, failed, ignored).
    pub passed: usize,
    /// Failed tests.
    pub failed: usize,
    /// Ignored tests.
    pub ignored: usize,
    /// Every test.
    pub tests: Vec<TestCase>,
    /// Lines of interest from the log.
    pub excerpt: Vec<String>,
    /// The full log.
    pub log: Option<PathBuf>,
    /// The mutant table (mutants stage).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mutants: Vec<Kill>,
    /// Fuzz totals (fuzz stage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuzz: Option<fuzz::FuzzStats>,
}

/// The JSON report.
#[derive(Serialize)]
struct Report<'a> {
    tier: &'a str,
    budget_seconds: f64,
    seconds: f64,
    ok: bool,
    stages: &'a [StageReport],
}

enum Kind {
    Cargo(Command),
    Fuzz(Duration),
    GoDiff(Duration),
    Mutants,
}

struct Stage {
    name: &'static str,
    command: String,
    kind: Kind,
}

fn cargo(ctx: &Ctx, dir: &str, rustflags: Option<&str>, args: &[&str]) -> (String, Command) {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&ctx.root)
        .env("CARGO_TARGET_DIR", ctx.out.join(dir))
        .args(args);
    match rustflags {
        Some(f) => cmd.env("RUSTFLAGS", f),
        None => cmd.env_remove("RUSTFLAGS"),
    };
    let shown = format!(
        "{}CARGO_TARGET_DIR={} cargo {}",
        rustflags.map_or(String::new(), |f| format!("RUSTFLAGS=\"{f}\" ")),
        ctx.out.join(dir).display(),
        args.join(" ")
    );
    (shown, cmd)
}

/// The integration tests of verification/ that run in a normal build (not
/// loom/shuttle-only, not this CLI's own tests).
fn std_test_targets(ctx: &Ctx) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ctx.root.join("verification/tests"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let p = e.path();
                    if p.extension()? != "rs" {
                        return None;
                    }
                    Some(p.file_stem()?.to_string_lossy().to_string())
                })
                .filter(|n| !matches!(n.as_str(), "loom" | "shuttle" | "poolcheck_cli"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn stages(ctx: &Ctx, deep: bool) -> Vec<Stage> {
    let mut out = Vec::new();
    let (c, mut cmd) = cargo(
        ctx,
        "std",
        None,
        &["test", "--release", "-p", "victim-pool-reference"],
    );
    cmd.env("PROPTEST_CASES", if deep { "2048" } else { "256" });
    out.push(Stage {
        name: "proptest",
        command: c,
        kind: Kind::Cargo(cmd),
    });
    let mut args: Vec<String> = [
        "test",
        "--release",
        "-p",
        "victim-pool-verification",
        "--lib",
    ]
    .map(String::from)
    .to_vec();
    for t in std_test_targets(ctx) {
        args.push("--test".into());
        args.push(t);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (c, cmd) = cargo(ctx, "std", None, &refs);
    out.push(Stage {
        name: "sequential",
        command: c,
        kind: Kind::Cargo(cmd),
    });
    let (c, mut cmd) = cargo(
        ctx,
        "loom",
        Some("--cfg loom"),
        &[
            "test",
            "--release",
            "-p",
            "victim-pool-verification",
            "--test",
            "loom",
            "--",
            "--test-threads=1",
        ],
    );
    cmd.env("LOOM_MAX_PREEMPTIONS", ctx.loom_bound.to_string());
    out.push(Stage {
        name: "loom",
        command: format!("LOOM_MAX_PREEMPTIONS={} {c}", ctx.loom_bound),
        kind: Kind::Cargo(cmd),
    });
    let (c, mut cmd) = cargo(
        ctx,
        "shuttle",
        Some("--cfg shuttle"),
        &[
            "test",
            "--release",
            "-p",
            "victim-pool-verification",
            "--test",
            "shuttle",
            "--",
            "--test-threads=1",
        ],
    );
    cmd.env("SHUTTLE_SECS", ctx.shuttle_secs.to_string());
    out.push(Stage {
        name: "shuttle",
        command: format!("SHUTTLE_SECS={} {c}", ctx.shuttle_secs),
        kind: Kind::Cargo(cmd),
    });
    let fuzz_time = Duration::from_secs(if deep { 300 } else { 20 });
    out.push(Stage {
        name: "fuzz",
        command: format!("poolcheck fuzz --budget {}s --seed 0", fuzz_time.as_secs()),
        kind: Kind::Fuzz(fuzz_time),
    });
    let go_time = Duration::from_secs(if deep { 300 } else { 20 });
    out.push(Stage {
        name: "go-diff",
        command: format!(
            "poolcheck go-diff --budget {}s --seed 0 --slots 1,2,4",
            go_time.as_secs()
        ),
        kind: Kind::GoDiff(go_time),
    });
    if deep {
        let (c, mut cmd) = cargo(
            ctx,
            "miri",
            None,
            &[
                "+nightly",
                "miri",
                "test",
                "-p",
                "victim-pool-verification",
                "--test",
                "stress",
            ],
        );
        cmd.env("MIRIFLAGS", "-Zmiri-many-seeds=0..8");
        out.push(Stage {
            name: "miri",
            command: format!("MIRIFLAGS=-Zmiri-many-seeds=0..8 {c}"),
            kind: Kind::Cargo(cmd),
        });
    }
    out.push(Stage {
        name: "mutants",
        command: "the catalogue of verification/mutants.txt".to_string(),
        kind: Kind::Mutants,
    });
    out
}

fn style(pending: bool) -> ProgressStyle {
    let t = if pending {
        "{prefix:>11} {msg}"
    } else {
        "{prefix:>11} [{bar:28.cyan/blue}] {pos:>3}/{len:3} {elapsed:>4} {wide_msg}"
    };
    ProgressStyle::with_template(t)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// `poolcheck run`; returns whether the job passed.
pub fn run(ctx: &Ctx, opts: &RunOptions) -> Result<bool, String> {
    let tier = if opts.deep { "deep" } else { "quick" };
    let start = Instant::now();
    let deadline = start + opts.budget;
    let list = stages(ctx, opts.deep);
    let catalogue = mutants::catalogue(&ctx.root)?;
    std::fs::create_dir_all(&ctx.out)
        .map_err(|e| format!("cannot create {}: {e}", ctx.out.display()))?;
    let multi = MultiProgress::new();
    if !ctx.progress {
        multi.set_draw_target(ProgressDrawTarget::hidden());
    }
    println!(
        "poolcheck run --tier {tier}: {} stages, budget {}s, loom bound {}, shuttle {}s/scheduler, logs in {}",
        list.len(),
        opts.budget.as_secs(),
        ctx.loom_bound,
        ctx.shuttle_secs,
        ctx.out.display()
    );
    let bars: Vec<ProgressBar> = list
        .iter()
        .map(|s| {
            let b = multi.add(ProgressBar::new(0));
            b.set_style(style(true));
            b.set_prefix(s.name);
            b.set_message("waiting");
            b
        })
        .collect();
    let mut reports = Vec::new();
    for (stage, bar) in list.into_iter().zip(&bars) {
        bar.set_style(style(false));
        bar.reset_elapsed();
        if ctx.progress {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        let report = if Instant::now() >= deadline {
            StageReport {
                name: stage.name.into(),
                command: stage.command.clone(),
                status: Status::TimedOut,
                seconds: 0.0,
                passed: 0,
                failed: 0,
                ignored: 0,
                tests: Vec::new(),
                excerpt: vec!["not started: the budget was used up".into()],
                log: None,
                mutants: Vec::new(),
                fuzz: None,
            }
        } else {
            run_stage(ctx, &stage, &catalogue, opts.deep, deadline, bar)
        };
        bar.disable_steady_tick();
        bar.set_style(style(true));
        bar.finish_with_message(format!(
            "{} in {:.1}s ({} passed, {} failed)",
            report.status.label(),
            report.seconds,
            report.passed,
            report.failed
        ));
        if !ctx.progress {
            println!(
                "{:>11} {} in {:.1}s ({} passed, {} failed)",
                report.name,
                report.status.label(),
                report.seconds,
                report.passed,
                report.failed
            );
        }
        reports.push(report);
    }
    let ok = !reports.iter().any(|r| r.status.is_failure());
    print!("{}", table(&reports));
    println!(
        "poolcheck run --tier {tier}: {} in {:.1}s",
        if ok { "PASSED" } else { "FAILED" },
        start.elapsed().as_secs_f64()
    );
    let report = Report {
        tier,
        budget_seconds: opts.budget.as_secs_f64(),
        seconds: start.elapsed().as_secs_f64(),
        ok,
        stages: &reports,
    };
    let json_path = opts
        .json
        .clone()
        .unwrap_or_else(|| ctx.out.join("report.json"));
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, json)
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    println!("JSON report: {}", json_path.display());
    if let Some(path) = &opts.junit {
        std::fs::write(path, junit(&reports))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("JUnit report: {}", path.display());
    }
    Ok(ok)
}

fn run_stage(
    ctx: &Ctx,
    stage: &Stage,
    catalogue: &[mutants::Mutant],
    deep: bool,
    deadline: Instant,
    bar: &ProgressBar,
) -> StageReport {
    let mut report = StageReport {
        name: stage.name.into(),
        command: stage.command.clone(),
        status: Status::Passed,
        seconds: 0.0,
        passed: 0,
        failed: 0,
        ignored: 0,
        tests: Vec::new(),
        excerpt: Vec::new(),
        log: None,
        mutants: Vec::new(),
        fuzz: None,
    };
    let start = Instant::now();
    match &stage.kind {
        Kind::Cargo(cmd) => {
            // `Command` is not `Clone`: rebuild it from its parts.
            let mut c = Command::new(cmd.get_program());
            c.args(cmd.get_args());
            if let Some(d) = cmd.get_current_dir() {
                c.current_dir(d);
            }
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
            if stage.name == "miri" && !tool_works(&["+nightly", "miri", "--version"]) {
                report.status = Status::Skipped;
                report
                    .excerpt
                    .push("cargo +nightly miri is not installed".into());
                return report;
            }
            let log = ctx.out.join(stage.name).join("log.txt");
            let r: ExecResult = exec::run(c, &log, deadline, bar);
            report.status = r.status;
            report.tests = r.tests;
            report.excerpt = r.excerpt;
            report.log = Some(r.log);
        }
        Kind::Fuzz(time) => {
            let budget = (*time).min(deadline.saturating_duration_since(Instant::now()));
            let opts = FuzzOptions {
                threads: 1,
                budget,
                seed: 0,
                dir: ctx.out.join("failures"),
                stop_on_failure: false,
                progress: false,
            };
            bar.set_length(budget.as_secs().max(1));
            let tick = bar.clone();
            let ticker = std::thread::spawn(move || {
                let s = Instant::now();
                while s.elapsed() < budget {
                    std::thread::sleep(Duration::from_millis(250));
                    tick.set_position(s.elapsed().as_secs());
                }
            });
            match fuzz::fuzz(&opts) {
                Ok(stats) => {
                    let _ = ticker.join();
                    report.passed = (stats.sequential + stats.concurrent) as usize;
                    report.failed = stats.failures.len();
                    report.status = if stats.failures.is_empty() {
                        Status::Passed
                    } else {
                        Status::Failed
                    };
                    report.excerpt = stats
                        .failures
                        .iter()
                        .map(|p| format!("failure saved: {}", p.display()))
                        .collect();
                    report.excerpt.insert(
                        0,
                        format!(
                            "{} sequential + {} concurrent histories ({:.0}/s)",
                            stats.sequential,
                            stats.concurrent,
                            (stats.sequential + stats.concurrent) as f64 / stats.seconds.max(1e-9)
                        ),
                    );
                    report.fuzz = Some(stats);
                }
                Err(e) => {
                    let _ = ticker.join();
                    report.status = Status::Failed;
                    report.excerpt.push(e);
                }
            }
            if Instant::now() >= deadline {
                report.status = Status::TimedOut;
            }
        }
        Kind::GoDiff(time) => {
            let budget = (*time).min(deadline.saturating_duration_since(Instant::now()));
            bar.set_length(budget.as_secs().max(1));
            let result = crate::go_diff::find_go(None).and_then(|(go, version)| {
                let build = crate::go_diff::build(&ctx.root, &ctx.out, &go, &version)?;
                let opts = crate::go_diff::GoDiffOptions {
                    budget,
                    seed: 0,
                    slots: vec![1, 2, 4],
                    dir: ctx.out.join("failures"),
                    progress: false,
                };
                crate::go_diff::go_diff(&build, &opts, bar)
            });
            match result {
                Ok(stats) => {
                    for t in &stats.per_slots {
                        report.tests.push(TestCase {
                            binary: "go-diff".into(),
                            name: format!("{} slots: {} histories", t.slots, t.histories),
                            outcome: if t.failure.is_some() { "FAILED" } else { "ok" }.into(),
                        });
                    }
                    report.excerpt = stats
                        .failures
                        .iter()
                        .map(|p| format!("divergence saved: poolcheck replay {}", p.display()))
                        .collect();
                    report.excerpt.push(stats.summary());
                    report.status = if stats.failures.is_empty() {
                        Status::Passed
                    } else {
                        Status::Failed
                    };
                }
                Err(e) => {
                    report.status = Status::Failed;
                    report.excerpt.push(e);
                }
            }
        }
        Kind::Mutants => {
            bar.set_length(catalogue.len() as u64);
            let kills = mutants::run(ctx, catalogue, deep, deadline, bar);
            for k in &kills {
                let outcome = match k.status {
                    Status::Failed => "ok",
                    Status::Skipped => "ignored",
                    _ => "FAILED",
                };
                report.tests.push(TestCase {
                    binary: "mutants".into(),
                    name: format!(
                        "{} killed by {}:{}",
                        k.mutant.name, k.mutant.tool, k.mutant.test
                    ),
                    outcome: outcome.into(),
                });
            }
            let timed_out = kills.iter().any(|k| k.status == Status::TimedOut);
            let survived = kills
                .iter()
                .any(|k| matches!(k.status, Status::Passed | Status::BuildError));
            report.status = if timed_out {
                Status::TimedOut
            } else if survived {
                Status::Failed
            } else {
                Status::Passed
            };
            print!("{}", kill_table(&kills));
            report.mutants = kills;
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    if !report.tests.is_empty() {
        report.passed = report.tests.iter().filter(|t| t.outcome == "ok").count();
        report.failed = report
            .tests
            .iter()
            .filter(|t| t.outcome == "FAILED")
            .count();
        report.ignored = report
            .tests
            .iter()
            .filter(|t| t.outcome == "ignored")
            .count();
    }
    report
}

fn tool_works(args: &[&str]) -> bool {
    Command::new("cargo")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The mutant kill table.
pub fn kill_table(kills: &[Kill]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<28} | {:<40} | {:>7} | evidence / replay",
        "mutant", "verdict", "time"
    );
    let _ = writeln!(s, "{}", "-".repeat(110));
    for k in kills {
        let verdict = match k.status {
            Status::Failed => format!("killed by {}:{}", k.mutant.tool, k.mutant.test),
            Status::Passed => "SURVIVED".to_string(),
            Status::Skipped => format!("skipped ({})", k.mutant.tool),
            Status::BuildError => "BUILD ERROR".to_string(),
            Status::TimedOut => "TIMED OUT".to_string(),
        };
        let _ = writeln!(
            s,
            "{:<28} | {:<40} | {:>6.1}s | {}",
            k.mutant.name, verdict, k.seconds, k.evidence
        );
        if !k.replay.is_empty() {
            let _ = writeln!(
                s,
                "{:<28} | {:<40} | {:>7} |   replay: {}",
                "", "", "", k.replay
            );
        }
        if let Some(f) = &k.replay_file {
            let _ = writeln!(
                s,
                "{:<28} | {:<40} | {:>7} |   poolcheck replay {}",
                "",
                "",
                "",
                f.display()
            );
        }
    }
    let survivors = kills
        .iter()
        .filter(|k| matches!(k.status, Status::Passed | Status::BuildError))
        .count();
    let skipped = kills.iter().filter(|k| k.status == Status::Skipped).count();
    let _ = writeln!(
        s,
        "killed {} of {}, survivors {survivors}, skipped {skipped}",
        kills.iter().filter(|k| k.killed).count(),
        kills.len()
    );
    s
}

fn table(reports: &[StageReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<11} | {:<11} | {:>8} | {:>6} | {:>6} | {:>7} | details",
        "stage", "status", "time", "passed", "failed", "ignored"
    );
    let _ = writeln!(s, "{}", "-".repeat(100));
    for r in reports {
        let failed: Vec<String> = r
            .tests
            .iter()
            .filter(|t| t.outcome == "FAILED")
            .map(|t| format!("{}::{}", t.binary, t.name))
            .collect();
        let detail = if !failed.is_empty() {
            format!("failed: {}", failed.join(", "))
        } else {
            r.excerpt.first().cloned().unwrap_or_default()
        };
        let _ = writeln!(
            s,
            "{:<11} | {:<11} | {:>7.1}s | {:>6} | {:>6} | {:>7} | {}",
            r.name,
            r.status.label(),
            r.seconds,
            r.passed,
            r.failed,
            r.ignored,
            detail.chars().take(160).collect::<String>()
        );
    }
    s
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|&c| c == '\n' || c == '\t' || c >= ' ')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one `testsuite` per stage, one `testcase` per test (a stage
/// that failed without a failing test gets a synthetic case).
fn junit(reports: &[StageReport]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"poolcheck\">\n",
    );
    for r in reports {
        let mut cases = String::new();
        let mut failures = 0;
        let mut skipped = 0;
        let mut n = 0;
        for t in &r.tests {
            n += 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{}.{}\" name=\"{}\">",
                xml(&r.name),
                xml(&t.binary),
                xml(&t.name)
            );
            match t.outcome.as_str() {
                "FAILED" => {
                    failures += 1;
                    let _ = write!(
                        cases,
                        "<failure message=\"failed\">see {}</failure>",
                        xml(&r
                            .log
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default())
                    );
                }
                "ignored" => {
                    skipped += 1;
                    cases.push_str("<skipped/>");
                }
                _ => {}
            }
            cases.push_str("</testcase>\n");
        }
        let stage_failed_without_case =
            r.status.is_failure() && !r.tests.iter().any(|t| t.outcome == "FAILED");
        if stage_failed_without_case || (r.tests.is_empty() && r.status == Status::Skipped) {
            n += 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"stage\">",
                xml(&r.name)
            );
            if r.status == Status::Skipped {
                skipped += 1;
                cases.push_str("<skipped/>");
            } else {
                failures += 1;
                let _ = write!(
                    cases,
                    "<failure message=\"{}\">{}</failure>",
                    r.status.label(),
                    xml(&r.excerpt.join("\n"))
                );
            }
            cases.push_str("</testcase>\n");
        }
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">\n{cases}  </testsuite>",
            xml(&r.name),
            r.seconds
        );
    }
    s.push_str("</testsuites>\n");
    s
}
