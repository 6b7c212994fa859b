//! `poolcheck`: the verification CLI of victim-pool.
//!
//! - `poolcheck run [--tier quick|deep] [--budget 15m] [--json FILE] [--junit FILE]`:
//!   the in-process verification job (proptest differential, sequential
//!   differential and checkers' tests, loom, shuttle, in-process fuzzing,
//!   the mutant catalogue; the deep tier adds Miri). The full tier
//!   runner, with the Miri/TSan/ASan builds, is `.ci/verification.sh`.
//! - `poolcheck fuzz [--threads N] [--budget D] [--seed S] [--dir DIR] [--shuttle]`:
//!   differential fuzzing, lock-free vs reference, failures saved as
//!   replayable JSON files; `--shuttle`: shuttle-scheduled concurrent
//!   histories (the shuttle tests, as subprocesses) instead.
//! - `poolcheck go-diff [--budget 30s] [--seed S] [--slots 1,2,4] [--go GO]`:
//!   the reference against Go's own `sync.Pool` on random sequential
//!   histories (`verification/go`); a divergence is saved for replay.
//! - `poolcheck replay FILE [--html OUT]`: re-runs a saved failure and
//!   renders it step by step (terminal and self-contained HTML).
//! - `poolcheck mutants [--only NAME]...`: the mutant kill table
//!   (catalogue: `verification/mutants.txt`).
//! - `poolcheck explain [MUTANT] [--html OUT] [--trace FILE]`: the lessons;
//!   with a name, the mutant's failing execution drawn event by event
//!   (verification/TOUR.md).
//!
//! `poolcheck help`, `poolcheck <command> --help` (or `-h`) and
//! `--version` print to stdout. Exit codes: [`cli::EXIT_CODES`].

#[cfg(any(loom, shuttle))]
fn main() {
    eprintln!("poolcheck: built with --cfg loom/shuttle; build it normally");
    std::process::exit(2);
}

#[cfg(not(any(loom, shuttle)))]
mod conc;
#[cfg(not(any(loom, shuttle)))]
mod context;
#[cfg(not(any(loom, shuttle)))]
mod exec;
#[cfg(not(any(loom, shuttle)))]
mod explain;
#[cfg(not(any(loom, shuttle)))]
mod explain_test;
#[cfg(not(any(loom, shuttle)))]
mod failure;
#[cfg(not(any(loom, shuttle)))]
mod fuzz;
#[cfg(not(any(loom, shuttle)))]
mod go_diff;
#[cfg(not(any(loom, shuttle)))]
mod history;
#[cfg(not(any(loom, shuttle)))]
mod html;
#[cfg(not(any(loom, shuttle)))]
mod lessons;
#[cfg(not(any(loom, shuttle)))]
mod mutants;
#[cfg(not(any(loom, shuttle)))]
mod orderings;
#[cfg(not(any(loom, shuttle)))]
mod replay;
#[cfg(not(any(loom, shuttle)))]
mod run;
#[cfg(not(any(loom, shuttle)))]
mod shuttle_fuzz;
#[cfg(not(any(loom, shuttle)))]
mod trace;

#[cfg(not(any(loom, shuttle)))]
fn main() {
    cli::main();
}

#[cfg(not(any(loom, shuttle)))]
mod cli {
    use std::io::IsTerminal;
    use std::path::PathBuf;
    use std::time::Duration;

    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::{Args, Parser, Subcommand};

    use crate::context::{ctx, panic_text, parse_duration, quiet_panics};
    use crate::{explain, fuzz, go_diff, mutants, replay, run, shuttle_fuzz};

    /// A budget: a duration greater than zero.
    fn budget(s: &str) -> Result<Duration, String> {
        let d = parse_duration(s)?;
        if d.is_zero() {
            return Err(format!("budget must be greater than zero (got {s:?})"));
        }
        Ok(d)
    }

    /// A verification tier.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Tier {
        Quick,
        Deep,
    }

    fn tier(s: &str) -> Result<Tier, String> {
        match s {
            "quick" => Ok(Tier::Quick),
            "deep" => Ok(Tier::Deep),
            other => Err(format!("unknown tier {other:?} (expected quick or deep)")),
        }
    }

    fn threads(s: &str) -> Result<usize, String> {
        s.parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("--threads must be a positive integer (got {s:?})"))
    }

    fn attempts(s: &str) -> Result<usize, String> {
        s.parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("--attempts must be a positive integer (got {s:?})"))
    }

    fn seed(s: &str) -> Result<u64, String> {
        s.parse()
            .map_err(|_| format!("--seed must be an unsigned integer (got {s:?})"))
    }

    /// What the exit code says (every subcommand).
    pub const EXIT_CODES: &str =
        "Exit codes: 0 success, 1 a check failed (or a replay did not reproduce), \
2 bad input (one line on stderr: `poolcheck: error: ...`), 3 internal error.";

    /// `poolcheck replay --help`'s examples, with a file name as
    /// `poolcheck fuzz` writes it.
    fn replay_examples() -> String {
        let file = crate::failure::file_name(crate::failure::Kind::Sequential, None, 42);
        format!(
            "Examples:\n  poolcheck replay target/poolcheck/failures/{file}\n  \
poolcheck replay FILE --html failure.html\n\n\
Exit 1 when the failure did not happen again (for a failure saved by a mutant's \
build, replay it with a poolcheck built as that mutant: the command is printed)."
        )
    }

    /// The verification CLI of victim-pool.
    #[derive(Debug, Parser)]
    #[command(
        name = "poolcheck",
        version,
        about = "Verification CLI of victim-pool: the in-process verification job, differential fuzzing, failure replay and the mutant kill table",
        long_about = None,
        subcommand_required = true,
        after_help = format!("{EXIT_CODES}\n\
The full tier runner (with the Miri, TSan and ASan builds) is .ci/verification.sh; see verification/README.md.")
    )]
    struct Cli {
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Debug, Subcommand)]
    enum Cmd {
        /// The in-process verification job (not Miri, TSan, ASan: see
        /// .ci/verification.sh).
        ///
        /// Stages: the proptest and sequential differentials and the
        /// checkers' own tests, loom, shuttle, in-process fuzzing, the mutant
        /// table (a row whose checker is miri runs in the deep tier only;
        /// the deep tier also runs Miri on the stress tests). Prints a progress bar per
        /// stage and a summary table, writes a JSON report (and JUnit XML
        /// with --junit); exit 1 on any divergence or surviving mutant.
        #[command(after_help = "Examples:\n  \
poolcheck run --tier quick\n  \
poolcheck run --tier deep --budget 2h --json target/poolcheck/report.json --junit target/poolcheck/junit.xml")]
        Run(RunArgs),
        /// Differential fuzzing, lock-free pool vs the reference spec.
        ///
        /// Random sequential and concurrent histories on every thread until
        /// the budget runs out; failures are saved as replayable JSON files
        /// (`poolcheck replay FILE`). With --shuttle: the shuttle scenarios,
        /// scheduled by shuttle, as subprocesses.
        #[command(after_help = "Examples:\n  \
poolcheck fuzz --budget 10m\n  \
poolcheck fuzz --threads 1 --seed 42 --budget=30s --stop-on-failure\n  \
poolcheck fuzz --shuttle --budget 5m")]
        Fuzz(FuzzArgs),
        /// The reference against Go's own sync.Pool.
        ///
        /// Builds verification/go (a Go program that replays a history on
        /// a real sync.Pool, one P per slot) with Go (--go, $GO, go on
        /// PATH, then /usr/lib/go-1.19/bin/go; go1.13 or newer), then runs
        /// random sequential histories (the sequential differential's
        /// generator, no per-thread bound) through both, one Go process
        /// per slot count, and compares every Get. A divergence is shrunk
        /// and saved (`poolcheck replay FILE` draws it with a Go column).
        /// Exit 1 on a divergence, 2 when Go is missing or too old.
        #[command(after_help = "Examples:\n  \
poolcheck go-diff --budget 20s\n  \
poolcheck go-diff --slots 4 --seed 7 --budget 5m --go /usr/lib/go-1.19/bin/go")]
        GoDiff(GoDiffArgs),
        /// Re-runs a saved failure and renders it step by step.
        ///
        /// FILE is a failure saved by `poolcheck fuzz`; the steps, both
        /// pools' results and the lock-free internals are printed, and with
        /// --html also written as a self-contained HTML page.
        #[command(after_help = replay_examples())]
        Replay(ReplayArgs),
        /// The mutant kill table.
        ///
        /// Builds each mutant of verification/mutants.txt (RUSTFLAGS='--cfg
        /// victim_pool_mutant="NAME"') and runs the check that must kill it;
        /// exit 1 if one survives. The evidence goes to
        /// target/poolcheck/mutants/NAME/.
        #[command(after_help = "Examples:\n  \
poolcheck mutants\n  \
poolcheck mutants --only get_skips_victim --only steal_from_head\n  \
poolcheck mutants --tier deep --budget 1h")]
        Mutants(MutantsArgs),
        /// Every protocol rule as a lesson: a mutant's failing execution drawn.
        ///
        /// Without a name, lists the lessons (one per mutant of
        /// verification/mutants.txt). With one killed by loom or shuttle:
        /// builds it, runs that checker's test with the core's recorder on,
        /// and draws the failing execution (one column per thread; stale
        /// loads, racing accesses, frees and uses after free highlighted;
        /// the broken invariant) in the terminal and as a self-contained
        /// HTML page (default: target/poolcheck/explain/NAME.html). Killed
        /// by the differential test: the shrunk diverging history, step by
        /// step. Killed by a test: each panic of the failing run with the
        /// calls that led to it. Exit 1 if the mutant survives.
        #[command(after_help = "Examples:\n  \
poolcheck explain\n  \
poolcheck explain push_publish_relaxed\n  \
poolcheck explain pop_tail_without_cas --html /tmp/lesson.html")]
        Explain(ExplainArgs),
        /// Every ordering of the core weakened one step, and the checks
        /// that kill each (verification/orderings.md); `--check`: the table
        /// is up to date with src/.
        #[command(after_help = "Examples:\n  \
poolcheck orderings --check\n  \
poolcheck orderings --budget 30m\n  \
poolcheck orderings --site chain: --resume verification/orderings-results.json --miri")]
        Orderings(crate::orderings::OrderingsArgs),
    }

    #[derive(Debug, Args)]
    struct ExplainArgs {
        /// The mutant (default: list the lessons).
        #[arg(value_name = "MUTANT")]
        mutant: Option<String>,
        /// Write the page here.
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// Draw this trace file (written by an earlier run) instead of
        /// building and running the mutant.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    }

    fn explain_cmd(a: ExplainArgs) -> Result<i32, String> {
        let ctx = ctx(false, true)?;
        let Some(name) = a.mutant else {
            return explain::list(&ctx);
        };
        match a.trace {
            Some(file) => {
                let m =
                    mutants::select(mutants::catalogue(&ctx.root)?, std::slice::from_ref(&name))?
                        .remove(0);
                let out = a
                    .html
                    .unwrap_or_else(|| ctx.out.join(format!("explain/{name}.html")));
                if let Some(dir) = out.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                crate::trace::render(&ctx, &m, &file, &out)
            }
            None => explain::explain(&ctx, &name, a.html),
        }
    }

    #[derive(Debug, Args)]
    struct RunArgs {
        /// quick, or deep (loom bound 3, shuttle 60 s per scheduler, Miri).
        #[arg(long, value_name = "quick|deep", value_parser = tier, default_value = "quick")]
        tier: Tier,
        /// Budget for the whole job (e.g. 90s, 10m, 1h30m) [default: 15m, 1h for deep].
        #[arg(long, value_name = "DURATION", value_parser = budget)]
        budget: Option<Duration>,
        /// Write the JSON report here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write a JUnit XML report here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// No progress bars (they are off anyway when stderr is not a terminal).
        #[arg(long)]
        no_progress: bool,
    }

    #[derive(Debug, Args)]
    struct FuzzArgs {
        /// Worker threads [default: the available parallelism].
        #[arg(long, value_name = "N", value_parser = threads, allow_negative_numbers = true)]
        threads: Option<usize>,
        /// How long to fuzz (e.g. 90s, 10m, 1h30m).
        #[arg(long, value_name = "DURATION", value_parser = budget, default_value = "1m")]
        budget: Duration,
        /// Seed of the history generator.
        #[arg(long, value_name = "S", value_parser = seed, default_value = "0", allow_negative_numbers = true)]
        seed: u64,
        /// Where failures are saved [default: target/poolcheck/failures].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Stop at the first failure.
        #[arg(long)]
        stop_on_failure: bool,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Shuttle-scheduled concurrent histories (the shuttle tests, as
        /// subprocesses) instead of the in-process ones.
        #[arg(long)]
        shuttle: bool,
    }

    #[derive(Debug, Args)]
    struct GoDiffArgs {
        /// How long to compare, the build excluded (e.g. 30s, 5m).
        #[arg(long, value_name = "DURATION", value_parser = budget, default_value = "30s")]
        budget: Duration,
        /// Seed of the first history (history n uses seed S + n).
        #[arg(long, value_name = "S", value_parser = seed, default_value = "0")]
        seed: u64,
        /// Slot counts (GOMAXPROCS of one Go process each), side by side.
        #[arg(long, value_name = "K,K,..", value_delimiter = ',', value_parser = slot_count, default_value = "1,2,4")]
        slots: Vec<usize>,
        /// The go command [default: $GO, go on PATH, /usr/lib/go-1.19/bin/go].
        #[arg(long, value_name = "GO")]
        go: Option<PathBuf>,
        /// Where a divergence is saved [default: target/poolcheck/failures].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Write the totals as JSON here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write a JUnit XML report here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
    }

    fn slot_count(s: &str) -> Result<usize, String> {
        s.parse()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| format!("a slot count is 1..=64 (got {s:?})"))
    }

    fn go_diff_cmd(a: GoDiffArgs) -> Result<i32, String> {
        let ctx = ctx(false, a.no_progress)?;
        let (go, version) = go_diff::find_go(a.go.as_deref())?;
        let build = go_diff::build(&ctx.root, &ctx.out, &go, &version)?;
        let opts = go_diff::GoDiffOptions {
            budget: a.budget,
            seed: a.seed,
            slots: a.slots,
            dir: a.dir.unwrap_or_else(|| ctx.out.join("failures")),
            progress: ctx.progress,
        };
        let stats = go_diff::run_reported(&build, &opts, a.json.as_deref(), a.junit.as_deref())?;
        Ok(if stats.failures.is_empty() { 0 } else { 1 })
    }

    #[derive(Debug, Args)]
    struct ReplayArgs {
        /// A failure file saved by `poolcheck fuzz`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Also write a self-contained HTML page here.
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// How many runs a concurrent failure gets to reproduce.
        #[arg(long, value_name = "N", value_parser = attempts, default_value = "200", allow_negative_numbers = true)]
        attempts: usize,
    }

    #[derive(Debug, Args)]
    struct MutantsArgs {
        /// Only this mutant (repeatable; default: all).
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// quick, or deep (also the rows whose checker is miri; loom bound 3).
        #[arg(long, value_name = "quick|deep", value_parser = tier, default_value = "quick")]
        tier: Tier,
        /// Budget for the whole table (e.g. 30m).
        #[arg(long, value_name = "DURATION", value_parser = budget, default_value = "30m")]
        budget: Duration,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
    }

    fn run_cmd(a: RunArgs) -> Result<i32, String> {
        let deep = a.tier == Tier::Deep;
        let opts = run::RunOptions {
            deep,
            budget: a
                .budget
                .unwrap_or(Duration::from_secs(if deep { 3600 } else { 900 })),
            json: a.json,
            junit: a.junit,
        };
        let ctx = ctx(deep, a.no_progress)?;
        Ok(if run::run(&ctx, &opts)? { 0 } else { 1 })
    }

    fn fuzz_cmd(a: FuzzArgs) -> Result<i32, String> {
        let progress = !a.no_progress && std::io::stderr().is_terminal();
        let opts = fuzz::FuzzOptions {
            threads: a
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            budget: a.budget,
            seed: a.seed,
            dir: match a.dir {
                Some(d) => d,
                None => ctx(false, true)
                    .map(|c| c.out.join("failures"))
                    .unwrap_or_else(|_| PathBuf::from("target/poolcheck/failures")),
            },
            stop_on_failure: a.stop_on_failure,
            progress,
        };
        if a.shuttle {
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
            let stats =
                shuttle_fuzz::fuzz(&ctx.root, &ctx.out, &opts.dir, opts.budget, opts.seed, &bar);
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
            return Ok(report_failures(&stats.failures));
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
        if let Some(m) = crate::failure::built_mutant() {
            println!("  (this binary is built as MUTANT {m})");
        }
        Ok(report_failures(&stats.failures))
    }

    /// Prints the failure files; the exit code.
    fn report_failures(failures: &[PathBuf]) -> i32 {
        if failures.is_empty() {
            println!("no failures");
            0
        } else {
            println!("{} failures:", failures.len());
            for f in failures {
                println!("  poolcheck replay {}", f.display());
            }
            1
        }
    }

    fn mutants_cmd(a: MutantsArgs) -> Result<i32, String> {
        let deep = a.tier == Tier::Deep;
        let ctx = ctx(deep, a.no_progress)?;
        let list = mutants::select(mutants::catalogue(&ctx.root)?, &a.only)?;
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
        let deadline = std::time::Instant::now() + a.budget;
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

    /// A clap usage error in one line (the rest of clap's text is a usage
    /// block and a tip, which `--help` shows in full).
    fn one_line(e: &clap::Error) -> String {
        let missing = match (e.kind(), e.get(ContextKind::InvalidArg)) {
            (ErrorKind::MissingRequiredArgument, Some(ContextValue::Strings(args))) => {
                Some(args.join(", "))
            }
            (ErrorKind::MissingRequiredArgument, Some(ContextValue::String(arg))) => {
                Some(arg.clone())
            }
            _ => None,
        };
        let text = match missing {
            Some(args) => format!("missing {}", args.replace(['<', '>'], "")),
            None if matches!(
                e.kind(),
                ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
            {
                let names: Vec<String> = <Cli as clap::CommandFactory>::command()
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect();
                format!("missing subcommand ({})", names.join(", "))
            }
            None => {
                let rendered = e.render().to_string();
                let first = rendered.lines().next().unwrap_or("").trim();
                first.strip_prefix("error: ").unwrap_or(first).to_string()
            }
        };
        format!("{text} (see poolcheck --help)")
    }

    /// Parses `argv` (without the program name) and runs the subcommand:
    /// the exit code, or a one-line error (exit 2).
    fn dispatch(argv: Vec<String>) -> Result<i32, String> {
        let cli = match Cli::try_parse_from(std::iter::once("poolcheck".to_string()).chain(argv)) {
            Ok(cli) => cli,
            // --help, -h, --version: clap prints them to stdout, exit 0.
            Err(e) if !e.use_stderr() => e.exit(),
            Err(e) => return Err(one_line(&e)),
        };
        match cli.command {
            Cmd::Run(a) => run_cmd(a),
            Cmd::Fuzz(a) => fuzz_cmd(a),
            Cmd::GoDiff(a) => go_diff_cmd(a),
            Cmd::Replay(a) => {
                let reproduced = replay::replay(&a.file, a.html, a.attempts)?;
                Ok(if reproduced { 0 } else { 1 })
            }
            Cmd::Mutants(a) => mutants_cmd(a),
            Cmd::Explain(a) => explain_cmd(a),
            Cmd::Orderings(a) => crate::orderings::main(a),
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

#[cfg(all(test, not(any(loom, shuttle))))]
mod layout_tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The modules a source text names as `crate::m` or `crate::{m, n}`.
    fn named(text: &str) -> BTreeSet<String> {
        let ident = |s: &str| -> String {
            s.trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut out = BTreeSet::new();
        for part in text.split("crate::").skip(1) {
            match part.strip_prefix('{') {
                Some(group) => {
                    let group = group.split('}').next().unwrap_or("");
                    out.extend(group.split(',').map(ident));
                }
                None => {
                    out.insert(ident(part));
                }
            }
        }
        out
    }

    /// No module of poolcheck imports one that imports it back, directly or
    /// through others (`main.rs`, which holds the CLI, counts as `cli`).
    #[test]
    fn modules_import_one_way() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin/poolcheck");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let (name, text) = if path.is_dir() {
                // A module directory (`orderings/`): one node.
                let mut text = String::new();
                for f in std::fs::read_dir(&path).unwrap().flatten() {
                    text.push_str(&std::fs::read_to_string(f.path()).unwrap_or_default());
                }
                (entry.file_name().to_string_lossy().into_owned(), text)
            } else if path.extension().is_some_and(|e| e == "rs") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                let stem = if stem == "main" {
                    "cli".to_string()
                } else {
                    stem
                };
                (stem, std::fs::read_to_string(&path).unwrap())
            } else {
                continue;
            };
            graph.insert(name, named(&text));
        }
        let nodes: BTreeSet<String> = graph.keys().cloned().collect();
        assert!(nodes.len() > 10, "{nodes:?}");
        // Depth-first search for a path back to the start.
        fn reaches(
            graph: &BTreeMap<String, BTreeSet<String>>,
            from: &str,
            to: &str,
            seen: &mut BTreeSet<String>,
            path: &mut Vec<String>,
        ) -> bool {
            for next in graph.get(from).into_iter().flatten() {
                if !graph.contains_key(next) || next == from {
                    continue;
                }
                path.push(next.clone());
                if next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen, path))
                {
                    return true;
                }
                path.pop();
            }
            false
        }
        for start in &nodes {
            let mut path = vec![start.clone()];
            let cycle = reaches(&graph, start, start, &mut BTreeSet::new(), &mut path);
            assert!(!cycle, "modules import each other: {}", path.join(" -> "));
        }
    }
}
