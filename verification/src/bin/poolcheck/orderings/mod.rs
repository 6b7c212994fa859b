//! `poolcheck orderings`: weaken every ordering of the core one
//! step, run the checkers best placed to see it, and write the table
//! `verification/orderings.md`.
//!
//! - `sites`: the ordering sites of `src/` and their one-step weakenings.
//! - `transform`: the one weakenable copy of the workspace
//!   (`target/orderings/ws/`, selection at run time by
//!   `VICTIM_POOL_WEAKEN=<site id>=<variant>`), so one loom build (and one
//!   Miri build) serves every weakening.
//! - here: the runner (loom, then Miri for what loom missed), the results
//!   JSON (resumable), the notes (`verification/orderings-notes.toml`) and
//!   the table.

pub mod sites;
pub mod transform;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use sites::{Site, Variant};

/// Arguments of `poolcheck orderings`.
#[derive(Debug, clap::Args)]
pub struct OrderingsArgs {
    /// Only check that verification/orderings.md has a row for every site
    /// and weakening of src/ (the quick-tier freshness check; seconds).
    #[arg(long)]
    check: bool,
    /// Only print the sites and their weakenings.
    #[arg(long)]
    list: bool,
    /// Only regenerate verification/orderings.md from the results and notes.
    #[arg(long)]
    table_only: bool,
    /// Only write the weakenable copy (target/orderings/ws), for replays.
    #[arg(long)]
    prepare: bool,
    /// Budget for the runs (e.g. 30m, 1h); builds included.
    #[arg(long, value_name = "DURATION", value_parser = crate::context::parse_duration, default_value = "1h")]
    budget: Duration,
    /// Only this site (repeatable; an id, or a prefix of ids such as `chain:`).
    #[arg(long, value_name = "ID")]
    site: Vec<String>,
    /// Keep the outcomes of this results file and run only what it lacks.
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// Where the results are written [default: verification/orderings-results.json].
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Weakenings run at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    jobs: usize,
    /// Loom preemption bound.
    #[arg(long, value_name = "N", default_value_t = 2)]
    loom_bound: u32,
    /// Time limit of one loom test under one weakening (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 240)]
    test_timeout: u64,
    /// Then run Miri (weak memory) on the small stress tests for the
    /// weakenings loom did not kill.
    #[arg(long)]
    miri: bool,
    /// Miri seeds per weakening (`-Zmiri-many-seeds=0..N`).
    #[arg(long, value_name = "N", default_value_t = 4)]
    miri_seeds: u32,
}

/// What became of one weakening.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    /// Site id.
    pub site: String,
    /// The weakening (`Relaxed`, ..., `removed`).
    pub variant: String,
    /// The ordering in the source when it ran.
    pub ordering: String,
    /// `killed` or `survived`.
    pub status: String,
    /// The check that killed it (`loom::test`, `miri::test`).
    pub check: Option<String>,
    /// Seconds from its first test to the kill (or all its tests).
    pub seconds: f64,
    /// The failure's telling line.
    pub evidence: Option<String>,
    /// The command that replays the kill (after `poolcheck orderings --prepare`).
    pub replay: Option<String>,
    /// The checks it passed (`loom::test`, or `loom::test (timeout 240s)`).
    pub passed: Vec<String>,
}

/// The results file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Results {
    /// Loom preemption bound of the runs.
    pub loom_bound: u32,
    /// Wall-clock seconds of the runs that produced these outcomes (summed over resumes).
    pub seconds: f64,
    /// One per weakening run.
    pub outcomes: Vec<Outcome>,
}

fn load_results(path: &Path) -> Result<Results, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn save_results(path: &Path, r: &Results) -> Result<(), String> {
    let text = serde_json::to_string_pretty(r).map_err(|e| e.to_string())?;
    fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

/// A note on a survivor (verification/orderings-notes.toml).
#[derive(Clone, Debug, Default)]
pub struct Note {
    /// `test` (a new check kills it), `correct` (the weaker ordering is
    /// enough), `closest` (needed; no checker here can see this weakening,
    /// and the text names the model that shows the same failure through the
    /// other half of its pair), `invisible` (no checker here can see it).
    pub answer: String,
    /// The argument, or the test.
    pub text: String,
}

/// Parses the notes: `[[survivor]]` tables with `site`, `variant`,
/// `answer` and `text` as one-line basic strings.
pub fn parse_notes(text: &str) -> Result<BTreeMap<(String, String), Note>, String> {
    let mut out = BTreeMap::new();
    let mut cur: Option<BTreeMap<String, String>> = None;
    let mut flush = |cur: Option<BTreeMap<String, String>>| -> Result<(), String> {
        if let Some(mut t) = cur {
            let mut take = |k: &str| t.remove(k).ok_or(format!("a [[survivor]] lacks `{k}`"));
            let key = (take("site")?, take("variant")?);
            let note = Note {
                answer: take("answer")?,
                text: take("text")?,
            };
            if !matches!(
                note.answer.as_str(),
                "test" | "correct" | "closest" | "invisible"
            ) {
                return Err(format!(
                    "{key:?}: answer must be test, correct, closest or invisible"
                ));
            }
            out.insert(key, note);
        }
        Ok(())
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "[[survivor]]" {
            flush(cur.take())?;
            cur = Some(BTreeMap::new());
            continue;
        }
        let bad = || format!("orderings-notes.toml:{}: expected key = \"string\"", n + 1);
        let (k, v) = line.split_once('=').ok_or_else(bad)?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(bad)?;
        let v = v.replace("\\\"", "\"").replace("\\\\", "\\");
        cur.as_mut()
            .ok_or_else(bad)?
            .insert(k.trim().to_string(), v);
    }
    flush(cur)?;
    Ok(out)
}

/// Runs `cmd` with a time limit, output to `log`: (exit success, seconds, timed out).
fn run_limited(mut cmd: Command, log: &Path, limit: Duration) -> Result<(bool, f64, bool), String> {
    let file = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok((status.success(), start.elapsed().as_secs_f64(), false));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok((false, start.elapsed().as_secs_f64(), true));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The telling line of a failure log.
fn evidence(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    let keys = [
        "Causality",
        "panicked",
        "Undefined Behavior",
        "data race",
        "assert",
        "error:",
    ];
    let lines: Vec<&str> = text.lines().collect();
    for key in keys {
        if let Some(i) = lines.iter().position(|l| l.contains(key)) {
            let mut s = lines[i].trim().to_string();
            // The panic message is on the next line; a location inside a
            // dependency tells nothing.
            if key == "panicked" {
                if let Some(next) = lines.get(i + 1) {
                    s = if s.contains(".cargo/registry") {
                        format!("panicked in a dependency: {}", next.trim())
                    } else {
                        format!("{s} {}", next.trim())
                    };
                }
            }
            // A causality violation names no object: the first frame of the
            // core outside the facade says which access found it.
            if key == "Causality" {
                let frame = lines[i..].iter().find_map(|l| {
                    let f = l.trim().split_once(": ")?.1;
                    (f.starts_with("victim_pool::") && !f.starts_with("victim_pool::sync::"))
                        .then_some(f)
                });
                if let Some(frame) = frame {
                    s = format!("{s} (in {frame})");
                }
            }
            s.truncate(220);
            return Some(s);
        }
    }
    None
}

/// Builds a test target in the copy; the test executable.
fn build_tests(
    ws: &Path,
    target: &Path,
    rustflags: &str,
    test: &str,
    log: &Path,
) -> Result<PathBuf, String> {
    let out = Command::new("cargo")
        .args(["test", "--manifest-path"])
        .arg(ws.join("Cargo.toml"))
        .args([
            "-p",
            "victim-pool-verification",
            "--release",
            "--test",
            test,
        ])
        .args(["--no-run", "--message-format=json"])
        .env("CARGO_TARGET_DIR", target)
        .env("RUSTFLAGS", rustflags)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    let _ = fs::write(log, &out.stderr);
    if !out.status.success() {
        return Err(format!(
            "the {test} build of target/orderings/ws failed (log: {})",
            log.display()
        ));
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["target"]["name"] == test {
            if let Some(exe) = v["executable"].as_str() {
                return Ok(PathBuf::from(exe));
            }
        }
    }
    Err(format!("no {test} executable in cargo's output"))
}

fn list_tests(exe: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(exe)
        .arg("--list")
        .output()
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// The loom test targets of the verification crate the runner uses.
const LOOM_TARGETS: &[&str] = &["loom", "loom_orderings"];

/// A loom test: (target, executable, test name).
type LoomTest = (&'static str, PathBuf, String);

/// One weakening to run.
#[derive(Clone)]
struct Job {
    site: Site,
    variant: Variant,
}

/// The loom tests in the order most likely to kill a weakening of `site`
/// first: the tests of its file, then the rest, fastest first.
fn loom_order(site: &Site, tests: &[(LoomTest, f64)]) -> Vec<LoomTest> {
    let prefix = match site.file.as_str() {
        "src/dequeue.rs" => "dequeue",
        "src/chain.rs" => "chain",
        _ => "pool",
    };
    let mut v: Vec<&(LoomTest, f64)> = tests.iter().collect();
    v.sort_by(|a, b| {
        (!a.0 .2.starts_with(prefix), a.1)
            .partial_cmp(&(!b.0 .2.starts_with(prefix), b.1))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    v.into_iter().map(|t| t.0.clone()).collect()
}

/// Whether `--site` selects `site` (every site without `--site`).
fn selected(a: &OrderingsArgs, site: &Site) -> bool {
    a.site.is_empty() || a.site.iter().any(|p| site.id.starts_with(p.as_str()))
}

/// Entry point of `poolcheck orderings`: the exit code.
pub fn main(a: OrderingsArgs) -> Result<i32, String> {
    let ctx = crate::context::ctx(false, true)?;
    let root = ctx.root.clone();
    let sites = sites::core_sites(&root)?;
    let table_path = root.join("verification/orderings.md");
    if a.check {
        let md = fs::read_to_string(&table_path)
            .map_err(|e| format!("{}: {e}", table_path.display()))?;
        let problems = sites::check_table(&sites, &md);
        for p in &problems {
            println!("{p}");
        }
        let weakenings: usize = sites.iter().map(|s| s.weakenings().len()).sum();
        if problems.is_empty() {
            println!(
                "verification/orderings.md is up to date: {} sites, {weakenings} weakenings",
                sites.len()
            );
            return Ok(0);
        }
        println!("regenerate it with `poolcheck orderings --site ID` (see verification/README.md)");
        return Ok(1);
    }
    if !a.site.is_empty() {
        let unmatched: Vec<&str> = a
            .site
            .iter()
            .filter(|p| !sites.iter().any(|s| s.id.starts_with(p.as_str())))
            .map(String::as_str)
            .collect();
        if !unmatched.is_empty() {
            return Err(format!(
                "no ordering site of src/ has an id starting with {unmatched:?} (`poolcheck orderings --list` lists them)"
            ));
        }
    }
    if a.list {
        for s in sites.iter().filter(|s| selected(&a, s)) {
            let v: Vec<&str> = s.weakenings().iter().map(|v| v.name()).collect();
            println!(
                "{:<72} {}:{:<4} {:<8} {}",
                s.id,
                s.file,
                s.line,
                s.ordering.name(),
                v.join(" ")
            );
        }
        return Ok(0);
    }
    let out = root.join("target/orderings");
    let ws = out.join("ws");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    transform::prepare(&root, &ws, &sites)?;
    if a.prepare {
        println!("weakenable copy written to {}", ws.display());
        return Ok(0);
    }
    let results_path = a
        .results
        .clone()
        .unwrap_or_else(|| root.join("verification/orderings-results.json"));
    let notes_path = root.join("verification/orderings-notes.toml");
    let mut results = match &a.resume {
        Some(p) => load_results(p)?,
        None if a.table_only => load_results(&results_path)?,
        None => Results {
            loom_bound: a.loom_bound,
            ..Results::default()
        },
    };
    if !a.table_only {
        run_all(&a, &root, &ws, &out, &sites, &mut results, &results_path)?;
    }
    let notes = match fs::read_to_string(&notes_path) {
        Ok(t) => parse_notes(&t)?,
        Err(_) => BTreeMap::new(),
    };
    let md = table(&sites, &results, &notes);
    fs::write(&table_path, md).map_err(|e| e.to_string())?;
    println!("table written to {}", table_path.display());
    Ok(0)
}

fn run_all(
    a: &OrderingsArgs,
    root: &Path,
    ws: &Path,
    out: &Path,
    sites: &[Site],
    results: &mut Results,
    results_path: &Path,
) -> Result<(), String> {
    let _ = root;
    let start = Instant::now();
    let deadline = start + a.budget;
    let logs = out.join("logs");
    fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let loom_target = out.join("loom");
    let mut exes = Vec::new();
    for target in LOOM_TARGETS {
        let exe = build_tests(
            ws,
            &loom_target,
            "--cfg loom",
            target,
            &logs.join(format!("build-{target}.log")),
        )?;
        println!(
            "{target} build ready ({:.0}s): {}",
            start.elapsed().as_secs_f64(),
            exe.display()
        );
        exes.push((*target, exe));
    }
    // Baseline: every loom test passes on the unweakened copy; its time orders the runs.
    let mut tests = Vec::new();
    for (target, exe) in &exes {
        for name in list_tests(exe)? {
            let mut cmd = Command::new(exe);
            cmd.args(["--exact", &name, "--test-threads=1"])
                .env("LOOM_MAX_PREEMPTIONS", a.loom_bound.to_string())
                .env_remove("VICTIM_POOL_WEAKEN");
            let log = logs.join(format!("baseline-{name}.log"));
            let (ok, secs, _) = run_limited(cmd, &log, Duration::from_secs(a.test_timeout))?;
            if !ok {
                return Err(format!(
                    "loom test {name} fails without any weakening (log: {})",
                    log.display()
                ));
            }
            println!("  baseline {target}::{name}: {secs:.1}s");
            tests.push(((*target, exe.clone(), name), secs));
        }
    }
    // A weakening is done when it was killed, or survived every loom test
    // there is now (a survivor meets the tests added since).
    let names: Vec<String> = tests
        .iter()
        .map(|t| format!("{}::{}", t.0 .0, t.0 .2))
        .collect();
    let done: std::collections::BTreeSet<(String, String)> = results
        .outcomes
        .iter()
        .filter(|o| o.status == "killed" || names.iter().all(|n| o.passed.contains(n)))
        .map(|o| (o.site.clone(), o.variant.clone()))
        .collect();
    let jobs: Vec<Job> = sites
        .iter()
        .filter(|s| selected(a, s))
        .flat_map(|s| {
            s.weakenings().into_iter().map(move |v| Job {
                site: s.clone(),
                variant: v,
            })
        })
        .filter(|j| !done.contains(&(j.site.id.clone(), j.variant.name().to_string())))
        .collect();
    println!(
        "poolcheck orderings: {} weakenings to run ({} sites in src/)",
        jobs.len(),
        sites.len()
    );
    let queue = Arc::new(Mutex::new(jobs.into_iter().rev().collect::<Vec<_>>()));
    let shared = Arc::new(Mutex::new(std::mem::take(results)));
    shared.lock().map_err(|e| e.to_string())?.loom_bound = a.loom_bound;
    let replay_base = format!(
        "LOOM_MAX_PREEMPTIONS={} RUSTFLAGS='--cfg loom' CARGO_TARGET_DIR=target/orderings/loom cargo test --manifest-path target/orderings/ws/Cargo.toml -p victim-pool-verification --release --test",
        a.loom_bound
    );
    std::thread::scope(|scope| {
        for _ in 0..a.jobs.max(1) {
            let queue = Arc::clone(&queue);
            let shared = Arc::clone(&shared);
            let tests = &tests;
            let logs = &logs;
            let replay_base = &replay_base;
            scope.spawn(move || loop {
                if Instant::now() > deadline {
                    return;
                }
                let Some(job) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                    return;
                };
                let sel = transform::selection(&job.site, job.variant);
                let variant = job.variant.name().to_string();
                let earlier = shared.lock().ok().and_then(|r| {
                    r.outcomes
                        .iter()
                        .find(|o| {
                            o.site == job.site.id && o.variant == variant && o.status == "survived"
                        })
                        .cloned()
                });
                let mut outcome = earlier.unwrap_or_else(|| Outcome {
                    site: job.site.id.clone(),
                    variant,
                    ordering: job.site.ordering.name().to_string(),
                    status: "survived".to_string(),
                    check: None,
                    seconds: 0.0,
                    evidence: None,
                    replay: None,
                    passed: Vec::new(),
                });
                let t0 = Instant::now();
                let before = outcome.seconds;
                for (target, exe, name) in loom_order(&job.site, tests) {
                    if outcome.passed.contains(&format!("{target}::{name}")) {
                        continue;
                    }
                    let mut cmd = Command::new(&exe);
                    cmd.args(["--exact", &name, "--test-threads=1"])
                        .env("LOOM_MAX_PREEMPTIONS", a.loom_bound.to_string())
                        .env("VICTIM_POOL_WEAKEN", &sel);
                    let log = logs.join(format!(
                        "{}.log",
                        sel.replace(['/', ':', '#', ' ', '='], "_")
                    ));
                    let Ok((ok, _, timed_out)) =
                        run_limited(cmd, &log, Duration::from_secs(a.test_timeout))
                    else {
                        continue;
                    };
                    if timed_out {
                        outcome
                            .passed
                            .push(format!("{target}::{name} (timeout {}s)", a.test_timeout));
                    } else if ok {
                        outcome.passed.push(format!("{target}::{name}"));
                    } else {
                        outcome.status = "killed".to_string();
                        outcome.check = Some(format!("{target}::{name}"));
                        outcome.evidence = evidence(&log);
                        outcome.replay = Some(format!(
                            "VICTIM_POOL_WEAKEN='{sel}' {replay_base} {target} -- --exact {name}"
                        ));
                        break;
                    }
                }
                outcome.seconds = before + t0.elapsed().as_secs_f64();
                println!(
                    "  {sel}: {} {} ({:.1}s)",
                    outcome.status,
                    outcome.check.as_deref().unwrap_or(""),
                    outcome.seconds
                );
                if let Ok(mut r) = shared.lock() {
                    r.outcomes
                        .retain(|o| !(o.site == outcome.site && o.variant == outcome.variant));
                    r.outcomes.push(outcome);
                    let _ = save_results(results_path, &r);
                }
            });
        }
    });
    let mut r = shared.lock().map_err(|e| e.to_string())?.clone();
    if a.miri && Instant::now() < deadline {
        miri_stage(a, ws, out, sites, &mut r, results_path, deadline)?;
    }
    r.seconds += start.elapsed().as_secs_f64();
    save_results(results_path, &r)?;
    *results = r;
    Ok(())
}

/// The stress tests Miri runs for a weakening of a site in `file`
/// (`VERIFY_QUICK=1` size): the small Miri set of .ci/verification.sh for
/// the chain and the dequeue; for the pool's files the victim grace period
/// (a thief reading a victim chain that a cleanup retires: buckets, marks,
/// pins, the chain swap). `pool_with_concurrent_cleanup` is left out: it
/// took over 7 minutes for 4 seeds under Miri on the unweakened copy.
fn miri_tests(file: &str) -> &'static [&'static str] {
    if file == "src/chain.rs" || file == "src/dequeue.rs" {
        &[
            "victim_chain_grace_period",
            "chain_reclaim_under_contention",
            "dequeue_wraparound_under_contention",
        ]
    } else {
        &["victim_chain_grace_period"]
    }
}

fn miri_command(ws: &Path, target: &Path, tests: &[&str], miriflags: &str) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(["+nightly", "miri", "test", "--manifest-path"])
        .arg(ws.join("Cargo.toml"))
        .args([
            "-p",
            "victim-pool-verification",
            "--test",
            "stress",
            "--",
            "--exact",
        ])
        .args(tests)
        .env("CARGO_TARGET_DIR", target)
        .env("VERIFY_QUICK", "1")
        .env("MIRIFLAGS", miriflags);
    cmd
}

fn miri_stage(
    a: &OrderingsArgs,
    ws: &Path,
    out: &Path,
    sites: &[Site],
    r: &mut Results,
    results_path: &Path,
    deadline: Instant,
) -> Result<(), String> {
    let target = out.join("miri");
    let logs = out.join("logs");
    let miriflags = format!(
        "-Zmiri-many-seeds=0..{} -Zmiri-env-forward=VICTIM_POOL_WEAKEN",
        a.miri_seeds
    );
    let survivors: Vec<usize> = (0..r.outcomes.len())
        .filter(|&i| {
            let o = &r.outcomes[i];
            o.status == "survived"
                && !o.passed.iter().any(|p| p.starts_with("miri"))
                && (a.site.is_empty() || a.site.iter().any(|p| o.site.starts_with(p.as_str())))
        })
        .collect();
    let needed: Vec<&str> = ["src/chain.rs", "src/pool/mod.rs"]
        .into_iter()
        .filter(|&set| {
            survivors.iter().any(|&i| {
                sites
                    .iter()
                    .find(|s| s.id == r.outcomes[i].site)
                    .is_some_and(|s| miri_tests(&s.file) == miri_tests(set))
            })
        })
        .collect();
    // Build once, and check that the unweakened copy passes.
    for file in needed {
        let cmd = miri_command(ws, &target, miri_tests(file), &miriflags);
        let log = logs.join(format!(
            "miri-baseline-{}.log",
            if file.contains("pool") {
                "pool"
            } else {
                "chain"
            }
        ));
        let (ok, secs, _) = run_limited(cmd, &log, Duration::from_secs(3600))?;
        if !ok {
            return Err(format!(
                "Miri fails on the unweakened copy ({})",
                log.display()
            ));
        }
        println!("Miri baseline {}: {secs:.0}s", miri_tests(file).join(" "));
    }
    for i in survivors {
        if Instant::now() > deadline {
            break;
        }
        let o = &r.outcomes[i];
        let Some(site) = sites.iter().find(|s| s.id == o.site) else {
            continue;
        };
        let tests = miri_tests(&site.file);
        let sel = format!("{}={}", o.site, o.variant);
        let mut cmd = miri_command(ws, &target, tests, &miriflags);
        cmd.env("VICTIM_POOL_WEAKEN", &sel);
        let log = logs.join(format!(
            "miri-{}.log",
            sel.replace(['/', ':', '#', ' ', '='], "_")
        ));
        let (ok, secs, timed_out) = run_limited(cmd, &log, Duration::from_secs(1800))?;
        let o = &mut r.outcomes[i];
        o.seconds += secs;
        let check = format!("miri::{} (seeds 0..{})", tests.join("+"), a.miri_seeds);
        if ok || timed_out {
            o.passed.push(if timed_out {
                format!("{check} (timeout)")
            } else {
                check
            });
        } else {
            o.status = "killed".to_string();
            o.check = Some(check);
            o.evidence = evidence(&log);
            o.replay = Some(format!(
                "VICTIM_POOL_WEAKEN='{sel}' VERIFY_QUICK=1 MIRIFLAGS='{miriflags}' CARGO_TARGET_DIR=target/orderings/miri cargo +nightly miri test --manifest-path target/orderings/ws/Cargo.toml -p victim-pool-verification --test stress -- --exact {}",
                tests.join(" ")
            ));
        }
        println!("  miri {sel}: {} ({secs:.0}s)", o.status);
        save_results(results_path, r)?;
    }
    Ok(())
}

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The generated `verification/orderings.md`.
pub fn table(sites: &[Site], r: &Results, notes: &BTreeMap<(String, String), Note>) -> String {
    let mut md = String::new();
    let weakenings: usize = sites.iter().map(|s| s.weakenings().len()).sum();
    let find = |s: &Site, v: &str| {
        r.outcomes
            .iter()
            .find(|o| o.site == s.id && o.variant == v && o.ordering == s.ordering.name())
    };
    let (mut killed, mut survived, mut missing) = (0, 0, 0);
    for s in sites {
        for v in s.weakenings() {
            match find(s, v.name()) {
                Some(o) if o.status == "killed" => killed += 1,
                Some(_) => survived += 1,
                None => missing += 1,
            }
        }
    }
    let _ = writeln!(
        md,
        "# Every ordering earns its place\n\n\
<!-- Generated by `poolcheck orderings` from verification/orderings-results.json and\n     \
verification/orderings-notes.toml: edit those, not this file. -->\n\n\
Each ordering site of `src/dequeue.rs`, `src/chain.rs`, `src/pool/*.rs` and\n\
`src/slot_marks.rs` (every `Ordering::X` argument of an atomic operation, each\n\
ordering of a compare-exchange, every `fence`, `light_fence()` and\n\
`heavy_fence()`) weakened one step, one at a time, and run against the loom\n\
suite (`verification/tests/loom.rs` + `verification/tests/loom_orderings.rs`,\n\
`LOOM_MAX_PREEMPTIONS={}`); what loom did not kill then ran under Miri where\n\
the table says so. The site id is `file:scope:operation#n` (no line number:\n\
ids survive edits elsewhere; the line is for reading). `—`: the ordering is\n\
already `Relaxed`, nothing weaker exists.\n\n\
**{} sites, {weakenings} weakenings: {killed} killed, {survived} survived{}.** \
Time of the runs that produced it: {:.0} s (resumed runs summed; a row's time is the total checker time of that weakening, build excluded).\n",
        r.loom_bound,
        sites.len(),
        if missing > 0 {
            format!(", {missing} not run")
        } else {
            String::new()
        },
        r.seconds
    );
    let _ = writeln!(
        md,
        "Replay a row: `poolcheck orderings --prepare` writes the weakenable copy\n\
(`target/orderings/ws/`), then\n\n\
```sh\n\
VICTIM_POOL_WEAKEN='<site id>=<weakening>' LOOM_MAX_PREEMPTIONS={} RUSTFLAGS='--cfg loom' \\\n  \
CARGO_TARGET_DIR=target/orderings/loom cargo test --manifest-path target/orderings/ws/Cargo.toml \\\n  \
-p victim-pool-verification --release --test loom -- --exact <test>\n\
```\n\n\
(`--test loom_orderings` for the tests of that file; the full command of each\n\
kill is in `verification/orderings-results.json`). Answers to survivors:\n\
**test** — a new check kills it; **correct** — the weaker ordering is\n\
enough (then the code should use it, or a test should show the argument\n\
wrong); **closest** — needed, no checker here can see this weakening (the\n\
text says why), and the named model shows the same failure through the\n\
other half of the pair; **invisible** — needed, yet no checker here sees\n\
it and no model shows its failure: `poolcheck orderings --check` (both CI\n\
tiers) fails on such a row.\n",
        r.loom_bound
    );
    let _ = writeln!(
        md,
        "| site | line | ordering | weakening | result | time | evidence / answer |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for s in sites {
        let line = format!("{}:{}", s.file.trim_start_matches("src/"), s.line);
        let ws = s.weakenings();
        if ws.is_empty() {
            let _ = writeln!(
                md,
                "| `{}` | {line} | {} | — | nothing weaker | | |",
                s.id, s.ordering
            );
            continue;
        }
        for v in ws {
            let (result, time, detail) = match find(s, v.name()) {
                None => ("not run".to_string(), String::new(), String::new()),
                Some(o) if o.status == "killed" => (
                    format!("killed by `{}`", o.check.as_deref().unwrap_or("?")),
                    format!("{:.1} s", o.seconds),
                    o.evidence
                        .clone()
                        .map(|e| format!("`{}`", e.replace('`', "'")))
                        .unwrap_or_default(),
                ),
                Some(o) => {
                    let note = notes.get(&(s.id.clone(), v.name().to_string()));
                    let result = match note {
                        Some(n) => format!("**survived** — {}", n.answer),
                        None => "**survived** — no answer".to_string(),
                    };
                    let passed = format!("passed: {}", o.passed.join(", "));
                    let detail = match note {
                        Some(n) => format!("{} ({passed})", n.text),
                        None => passed,
                    };
                    (result, format!("{:.1} s", o.seconds), detail)
                }
            };
            let _ = writeln!(
                md,
                "| `{}` | {line} | {} | {} | {} | {time} | {} |",
                s.id,
                s.ordering,
                v.name(),
                cell(&result),
                cell(&detail)
            );
        }
    }
    md
}
