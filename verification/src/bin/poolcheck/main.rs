//! `poolcheck`: the verification CLI of victim-pool.
//!
//! - `poolcheck run [--tier quick|deep] [--budget 10m] [--json FILE] [--junit FILE]`:
//!   the CI verification job (proptest differential, sequential
//!   differential and checkers' tests, loom, shuttle, in-process fuzzing,
//!   the mutant catalogue; Miri in the deep tier).
//! - `poolcheck fuzz [--threads N] [--budget D] [--seed S] [--dir DIR] [--shuttle]`:
//!   differential fuzzing, lock-free vs reference, failures saved as
//!   replayable JSON files; `--shuttle`: shuttle-scheduled concurrent
//!   histories (the shuttle tests, as subprocesses) instead.
//! - `poolcheck replay FILE [--html OUT]`: re-runs a saved failure and
//!   renders it step by step (terminal and self-contained HTML).
//! - `poolcheck mutants [--only NAME]...`: the mutant kill table.
//!
//! Exit codes: 0 success, 1 a check failed, 2 bad input.

#[cfg(any(loom, shuttle))]
fn main() {
    eprintln!("poolcheck: built with --cfg loom/shuttle; build it normally");
    std::process::exit(2);
}

#[cfg(not(any(loom, shuttle)))]
mod conc;
#[cfg(not(any(loom, shuttle)))]
mod exec;
#[cfg(not(any(loom, shuttle)))]
mod fuzz;
#[cfg(not(any(loom, shuttle)))]
mod history;
#[cfg(not(any(loom, shuttle)))]
mod html;
#[cfg(not(any(loom, shuttle)))]
mod mutants;
#[cfg(not(any(loom, shuttle)))]
mod replay;
#[cfg(not(any(loom, shuttle)))]
mod run;
#[cfg(not(any(loom, shuttle)))]
mod shuttle_fuzz;

#[cfg(not(any(loom, shuttle)))]
use cli::{panic_text, quiet_panics, Ctx};

#[cfg(not(any(loom, shuttle)))]
fn main() {
    cli::main();
}

#[cfg(not(any(loom, shuttle)))]
mod cli {
    use std::io::IsTerminal;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use crate::{fuzz, mutants, replay, run, shuttle_fuzz};

    const USAGE: &str = "usage: poolcheck <run|fuzz|replay|mutants> [options]
  run     [--tier quick|deep] [--budget 10m] [--json FILE] [--junit FILE] [--no-progress]
  fuzz    [--threads N] [--budget 1m] [--seed S] [--dir DIR] [--stop-on-failure] [--no-progress] [--shuttle]
  replay  FILE [--html OUT.html] [--attempts N]
  mutants [--only NAME]... [--tier quick|deep] [--budget 30m] [--no-progress]";

    /// Settings shared by the subcommands.
    #[derive(Clone, Debug)]
    pub struct Ctx {
        /// The workspace root.
        pub root: PathBuf,
        /// `target/poolcheck`: per-stage target dirs, logs, reports.
        pub out: PathBuf,
        /// Loom preemption bound.
        pub loom_bound: u32,
        /// Shuttle seconds per scheduler per test.
        pub shuttle_secs: u64,
        /// Draw progress bars.
        pub progress: bool,
    }

    /// Text of a panic payload.
    pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        }
    }

    /// Panics of the pools under test are caught and reported as findings:
    /// keep the default hook from printing them.
    pub fn quiet_panics() {
        std::panic::set_hook(Box::new(|_| {}));
    }

    fn workspace_root() -> Result<PathBuf, String> {
        let is_root = |p: &Path| {
            p.join("verification/mutants.sh").is_file() && p.join("Cargo.toml").is_file()
        };
        if let Ok(mut dir) = std::env::current_dir() {
            loop {
                if is_root(&dir) {
                    return Ok(dir);
                }
                if !dir.pop() {
                    break;
                }
            }
        }
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if is_root(&built) {
            return built.canonicalize().map_err(|e| e.to_string());
        }
        Err("cannot find the victim-pool workspace (run poolcheck inside it)".to_string())
    }

    /// Parses `10m`, `90s`, `1h30m`, `500ms` or a number of seconds.
    pub fn parse_duration(s: &str) -> Result<Duration, String> {
        let bad = || format!("invalid duration {s:?} (examples: 90s, 10m, 1h30m)");
        if s.is_empty() {
            return Err(bad());
        }
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit = rest.chars().take_while(char::is_ascii_alphabetic).count();
            let d = match &rest[..unit] {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => return Err(bad()),
            };
            total += d;
            rest = &rest[unit..];
        }
        Ok(total)
    }

    fn budget(s: &str) -> Result<Duration, String> {
        let d = parse_duration(s)?;
        if d.is_zero() {
            return Err(format!("budget must be greater than zero (got {s:?})"));
        }
        Ok(d)
    }

    struct Args {
        rest: std::vec::IntoIter<String>,
    }

    impl Args {
        fn value(&mut self, flag: &str) -> Result<String, String> {
            self.rest
                .next()
                .filter(|v| !v.starts_with("--"))
                .ok_or_else(|| format!("{flag} needs a value"))
        }
    }

    fn tier(s: &str) -> Result<bool, String> {
        match s {
            "quick" => Ok(false),
            "deep" => Ok(true),
            other => Err(format!("unknown tier {other:?} (expected quick or deep)")),
        }
    }

    /// The settings: workspace root, output dir, tier bounds.
    pub fn ctx(deep: bool, no_progress: bool) -> Result<Ctx, String> {
        let root = workspace_root()?;
        let out = std::env::var_os("POOLCHECK_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/poolcheck"));
        Ok(Ctx {
            root,
            out,
            loom_bound: if deep { 3 } else { 2 },
            shuttle_secs: if deep { 60 } else { 5 },
            progress: !no_progress && std::io::stderr().is_terminal(),
        })
    }

    fn dispatch(argv: Vec<String>) -> Result<i32, String> {
        let mut args = Args {
            rest: argv.into_iter(),
        };
        let Some(cmd) = args.rest.next() else {
            return Err(
                "missing subcommand (run, fuzz, replay or mutants; see poolcheck help)".to_string(),
            );
        };
        match cmd.as_str() {
            "help" | "--help" | "-h" => {
                println!("{USAGE}");
                Ok(0)
            }
            "run" => {
                let mut opts = run::RunOptions {
                    deep: false,
                    budget: Duration::from_secs(600),
                    json: None,
                    junit: None,
                };
                let mut budget_set = false;
                let mut no_progress = false;
                while let Some(a) = args.rest.next() {
                    match a.as_str() {
                        "--tier" => opts.deep = tier(&args.value("--tier")?)?,
                        "--budget" => {
                            opts.budget = budget(&args.value("--budget")?)?;
                            budget_set = true;
                        }
                        "--json" => opts.json = Some(args.value("--json")?.into()),
                        "--junit" => opts.junit = Some(args.value("--junit")?.into()),
                        "--no-progress" => no_progress = true,
                        other => return Err(format!("run: unknown argument {other:?}")),
                    }
                }
                if opts.deep && !budget_set {
                    opts.budget = Duration::from_secs(3600);
                }
                let ctx = ctx(opts.deep, no_progress)?;
                Ok(if run::run(&ctx, &opts)? { 0 } else { 1 })
            }
            "fuzz" => {
                let threads_default = std::thread::available_parallelism().map_or(1, |n| n.get());
                let mut opts = fuzz::FuzzOptions {
                    threads: threads_default,
                    budget: Duration::from_secs(60),
                    seed: 0,
                    dir: PathBuf::new(),
                    stop_on_failure: false,
                    progress: std::io::stderr().is_terminal(),
                };
                let mut dir = None;
                let mut shuttle = false;
                while let Some(a) = args.rest.next() {
                    match a.as_str() {
                        "--threads" => {
                            let v = args.value("--threads")?;
                            opts.threads = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                                format!("--threads must be a positive integer (got {v:?})")
                            })?;
                        }
                        "--budget" => opts.budget = budget(&args.value("--budget")?)?,
                        "--seed" => {
                            let v = args.value("--seed")?;
                            opts.seed = v.parse().map_err(|_| {
                                format!("--seed must be an unsigned integer (got {v:?})")
                            })?;
                        }
                        "--dir" => dir = Some(PathBuf::from(args.value("--dir")?)),
                        "--stop-on-failure" => opts.stop_on_failure = true,
                        "--no-progress" => opts.progress = false,
                        "--shuttle" => shuttle = true,
                        other => return Err(format!("fuzz: unknown argument {other:?}")),
                    }
                }
                opts.dir = match dir {
                    Some(d) => d,
                    None => ctx(false, true)
                        .map(|c| c.out.join("failures"))
                        .unwrap_or_else(|_| PathBuf::from("target/poolcheck/failures")),
                };
                if shuttle {
                    let ctx = ctx(false, !opts.progress)?;
                    let bar = if ctx.progress {
                        let bar = indicatif::ProgressBar::new_spinner();
                        bar.enable_steady_tick(Duration::from_millis(200));
                        bar
                    } else {
                        indicatif::ProgressBar::hidden()
                    };
                    println!(
                        "poolcheck fuzz --shuttle: the shuttle scenarios, seed {}, budget {:.0}s (build excluded), target {}",
                        opts.seed,
                        opts.budget.as_secs_f64(),
                        ctx.out.join("shuttle-fuzz").display()
                    );
                    let stats = shuttle_fuzz::fuzz(
                        &ctx.root,
                        &ctx.out,
                        &opts.dir,
                        opts.budget,
                        opts.seed,
                        &bar,
                    );
                    bar.finish_and_clear();
                    let stats = stats?;
                    let total: u64 = stats.tests.iter().map(|t| t.schedules).sum();
                    let explored: f64 = stats.tests.iter().map(|t| t.seconds).sum();
                    println!(
                        "poolcheck fuzz --shuttle: {total} schedules in {explored:.1}s of exploration ({:.0}/s), {} tests, {:.1}s wall; seed {}",
                        total as f64 / explored.max(1e-9),
                        stats.tests.len(),
                        stats.seconds,
                        opts.seed
                    );
                    return Ok(if stats.failures.is_empty() {
                        println!("no failures");
                        0
                    } else {
                        println!("{} failures:", stats.failures.len());
                        for f in &stats.failures {
                            println!("  poolcheck replay {}", f.display());
                        }
                        1
                    });
                }
                let stats = fuzz::fuzz(&opts)?;
                let t = stats.seconds.max(1e-9);
                println!(
                    "poolcheck fuzz: {} sequential histories ({:.0}/s, {:.0} steps/s), {} concurrent histories ({:.0}/s) in {:.1}s on {} threads; seed {}",
                    stats.sequential,
                    stats.sequential as f64 / t,
                    stats.steps as f64 / t,
                    stats.concurrent,
                    stats.concurrent as f64 / t,
                    stats.seconds,
                    opts.threads,
                    opts.seed
                );
                if let Some(m) = fuzz::built_mutant() {
                    println!("  (this binary is built as MUTANT {m})");
                }
                if stats.failures.is_empty() {
                    println!("no failures");
                    Ok(0)
                } else {
                    println!("{} failures:", stats.failures.len());
                    for f in &stats.failures {
                        println!("  poolcheck replay {}", f.display());
                    }
                    Ok(1)
                }
            }
            "replay" => {
                let mut file = None;
                let mut html = None;
                let mut attempts = 200;
                while let Some(a) = args.rest.next() {
                    match a.as_str() {
                        "--html" => html = Some(PathBuf::from(args.value("--html")?)),
                        "--attempts" => {
                            let v = args.value("--attempts")?;
                            attempts = v.parse().map_err(|_| {
                                format!("--attempts must be an integer (got {v:?})")
                            })?;
                        }
                        f if !f.starts_with("--") && file.is_none() => {
                            file = Some(PathBuf::from(f))
                        }
                        other => return Err(format!("replay: unexpected argument {other:?}")),
                    }
                }
                let file =
                    file.ok_or("replay: missing FILE (a failure saved by poolcheck fuzz)")?;
                replay::replay(&file, html, attempts)?;
                Ok(0)
            }
            "mutants" => {
                let mut only = Vec::new();
                let mut deep = false;
                let mut no_progress = false;
                let mut limit = Duration::from_secs(1800);
                while let Some(a) = args.rest.next() {
                    match a.as_str() {
                        "--only" => only.push(args.value("--only")?),
                        "--tier" => deep = tier(&args.value("--tier")?)?,
                        "--budget" => limit = budget(&args.value("--budget")?)?,
                        "--no-progress" => no_progress = true,
                        other => return Err(format!("mutants: unknown argument {other:?}")),
                    }
                }
                let ctx = ctx(deep, no_progress)?;
                let list = mutants::select(mutants::catalogue(&ctx.root)?, &only)?;
                let bar = if ctx.progress {
                    let b = indicatif::ProgressBar::new(list.len() as u64);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "mutants [{bar:28.cyan/blue}] {pos}/{len} {elapsed} {wide_msg}",
                        )
                        .map_err(|e| e.to_string())?,
                    );
                    b.enable_steady_tick(Duration::from_millis(200));
                    b
                } else {
                    indicatif::ProgressBar::hidden()
                };
                let deadline = std::time::Instant::now() + limit;
                let kills = mutants::run(&ctx, &list, deep, deadline, &bar);
                bar.finish_and_clear();
                print!("{}", run::kill_table(&kills));
                println!("evidence saved under {}", ctx.out.join("mutants").display());
                let bad = kills.iter().any(|k| {
                    matches!(
                        k.status,
                        crate::exec::Status::Passed
                            | crate::exec::Status::BuildError
                            | crate::exec::Status::TimedOut
                    )
                });
                Ok(if bad { 1 } else { 0 })
            }
            other => Err(format!(
                "unknown subcommand {other:?} (run, fuzz, replay or mutants; see poolcheck help)"
            )),
        }
    }

    /// Entry point: one-line errors, exit code 2 on bad input, never a
    /// panic trace.
    pub fn main() {
        quiet_panics();
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let code = match std::panic::catch_unwind(|| dispatch(argv)) {
            Ok(Ok(code)) => code,
            Ok(Err(msg)) => {
                eprintln!("poolcheck: error: {msg}");
                2
            }
            Err(payload) => {
                eprintln!(
                    "poolcheck: internal error: {}",
                    panic_text(&*payload).replace('\n', " ")
                );
                3
            }
        };
        std::process::exit(code);
    }
}
