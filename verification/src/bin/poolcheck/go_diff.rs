//! `poolcheck go-diff`: the reference against Go's own `sync.Pool`.
//!
//! Random sequential histories (the sequential differential's generator,
//! without the per-thread bound, which Go does not have) run through the
//! reference and through `verification/go` (a Go program that replays a
//! history on a real `sync.Pool`, one P per slot); every Get's result is
//! compared, and so is what each used slot can still take at the end. A
//! divergence is shrunk, saved as a failure file and drawn by
//! `poolcheck replay` with a Go column beside the reference and the
//! lock-free pool.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;

use crate::failure::{self, built_mutant, Failure, GoCase, Kind, FORMAT};
use crate::fuzz;
use crate::history::{describe, History, Op, SLOTS};

/// The oldest Go whose `sync.Pool` has the victim cache.
const OLDEST_GO: (u32, u32) = (1, 13);

/// Where Go is looked for after `--go`, `$GO` and `go` on `PATH`: the
/// Debian package's directory (not on `PATH` by default).
const DEBIAN_GO: &str = "/usr/lib/go-1.19/bin/go";

/// A Go toolchain, and the replay program built with it.
#[derive(Clone, Debug)]
pub struct GoBuild {
    /// `go1.X.Y`.
    pub version: String,
    /// The `go` command used.
    pub go: PathBuf,
    /// The built program.
    pub binary: PathBuf,
    /// Whether the linkname to `runtime.procPin` was accepted (else one
    /// slot only).
    pub pins: bool,
}

/// Options of `poolcheck go-diff`.
#[derive(Clone, Debug)]
pub struct GoDiffOptions {
    /// How long to run (the build excluded).
    pub budget: Duration,
    /// Seed of the first history.
    pub seed: u64,
    /// Slot counts, one Go process each, run side by side.
    pub slots: Vec<usize>,
    /// Where a divergence is saved.
    pub dir: PathBuf,
    /// Draw a progress bar.
    pub progress: bool,
}

/// Totals of one slot count.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SlotTotals {
    /// Slots (= GOMAXPROCS).
    pub slots: usize,
    /// Histories compared.
    pub histories: u64,
    /// Steps of those histories.
    pub steps: u64,
    /// Get results compared (drains included).
    pub gets: u64,
    /// The saved divergence, if any.
    pub failure: Option<PathBuf>,
}

/// Totals of a go-diff run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GoDiffStats {
    /// `go1.X.Y`.
    pub go_version: String,
    /// Per slot count.
    pub per_slots: Vec<SlotTotals>,
    /// Seconds spent comparing (the build excluded).
    pub seconds: f64,
    /// Failure files written (one per diverging slot count at most).
    pub failures: Vec<PathBuf>,
    /// Slot counts asked for but not run (the linkname was refused).
    pub not_run: Vec<usize>,
}

impl GoDiffStats {
    /// Histories compared in total.
    pub fn histories(&self) -> u64 {
        self.per_slots.iter().map(|s| s.histories).sum()
    }

    /// The closing line: `go-diff: N histories, slots 1..K, agree with goX`.
    pub fn summary(&self) -> String {
        let ran: Vec<usize> = self
            .per_slots
            .iter()
            .filter(|s| s.histories > 0)
            .map(|s| s.slots)
            .collect();
        let slots = match (ran.iter().min(), ran.iter().max()) {
            (Some(lo), Some(hi)) if lo != hi => format!("{lo}..{hi}"),
            (Some(lo), _) => lo.to_string(),
            _ => "none".to_string(),
        };
        let verdict = if self.failures.is_empty() {
            "agree with"
        } else {
            "DIVERGE from"
        };
        format!(
            "go-diff: {} histories, slots {slots}, {verdict} {}",
            self.histories(),
            self.go_version
        )
    }
}

/// `go version` of `go`: `go1.X.Y` and its (major, minor).
fn go_version(go: &Path) -> Result<(String, (u32, u32)), String> {
    let out = Command::new(go)
        .arg("version")
        .env("GOTOOLCHAIN", "local")
        .output()
        .map_err(|e| format!("cannot run {} version: {e}", go.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .find(|w| w.starts_with("go1"))
        .ok_or_else(|| format!("{} version printed {:?}", go.display(), text.trim()))?
        .to_string();
    let mut parts = version["go".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    Ok((version, (major, minor)))
}

/// Finds Go: `flag`, `$GO`, `go` on `PATH`, the Debian package's.
pub fn find_go(flag: Option<&Path>) -> Result<(PathBuf, String), String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(f) = flag {
        candidates.push(f.to_path_buf());
    } else if let Some(env) = std::env::var_os("GO").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(env));
    } else {
        candidates.push(PathBuf::from("go"));
        candidates.push(PathBuf::from(DEBIAN_GO));
    }
    let mut tried = Vec::new();
    for go in candidates {
        match go_version(&go) {
            Ok((version, v)) if v >= OLDEST_GO => return Ok((go, version)),
            Ok((version, _)) => {
                return Err(format!(
                    "{} is {version}, too old: sync.Pool has its victim cache since go{}.{} \
                     (install a newer Go, e.g. apt-get install golang-1.19-go)",
                    go.display(),
                    OLDEST_GO.0,
                    OLDEST_GO.1
                ))
            }
            Err(e) => tried.push(e),
        }
    }
    Err(format!(
        "Go not found (--go, $GO, go on PATH, {DEBIAN_GO}): {}; install it, e.g. \
         apt-get install golang-1.19-go",
        tried.join("; ")
    ))
}

/// Builds `verification/go` with `go` into `out` (once per Go version).
pub fn build(root: &Path, out: &Path, go: &Path, version: &str) -> Result<GoBuild, String> {
    let dir = out.join("go-diff");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
    let binary = dir.join(format!("pooldiff-{version}"));
    let attempt = |tags: Option<&str>| -> Result<(), String> {
        let mut cmd = Command::new(go);
        cmd.arg("build").arg("-o").arg(&binary);
        if let Some(t) = tags {
            cmd.args(["-tags", t]);
        }
        cmd.arg(".")
            .current_dir(root.join("verification/go"))
            // The toolchain asked for, no race detector (race-mode Put
            // drops items at random), no C toolchain needed.
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "")
            .env("CGO_ENABLED", "0")
            .env("GO111MODULE", "on");
        if std::env::var_os("GOCACHE").is_none() {
            cmd.env("GOCACHE", dir.join("cache"));
        }
        let r = cmd
            .output()
            .map_err(|e| format!("cannot run {} build: {e}", go.display()))?;
        if r.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&r.stderr).trim().to_string())
        }
    };
    match attempt(None) {
        Ok(()) => Ok(GoBuild {
            version: version.to_string(),
            go: go.to_path_buf(),
            binary,
            pins: true,
        }),
        Err(e) if e.contains("linkname") => {
            eprintln!(
                "go-diff: {version} refuses the linkname to runtime.procPin ({}): one slot only",
                e.lines().next().unwrap_or("")
            );
            attempt(Some("nolinkname"))
                .map_err(|e| format!("go build of verification/go failed: {e}"))?;
            Ok(GoBuild {
                version: version.to_string(),
                go: go.to_path_buf(),
                binary,
                pins: false,
            })
        }
        Err(e) => Err(format!("go build of verification/go failed: {e}")),
    }
}

/// The history for `slots` slots: the generator's slot `SLOTS[i]` becomes
/// `i % slots`, and no per-thread bound (Go's pool has none).
pub fn for_slots(mut h: History, slots: usize) -> History {
    h.config.max_per_thread = None;
    for step in &mut h.steps {
        let i = SLOTS
            .iter()
            .position(|&s| s == step.slot)
            .unwrap_or(step.slot);
        step.slot = i % slots;
    }
    h
}

/// One expected answer line of the Go program.
#[derive(Clone, Debug)]
struct Expect {
    /// The step it belongs to (`None`: the end drain).
    step: Option<usize>,
    /// The line.
    line: String,
}

/// A history as the Go program's input, with the reference's answers.
#[derive(Clone, Debug)]
struct Script {
    input: String,
    expected: Vec<Expect>,
}

fn tag_line(v: Option<u64>) -> String {
    v.map_or_else(|| "nil".to_string(), |v| v.to_string())
}

/// Runs `h` on the reference, item ids numbered as the sequential
/// differential numbers them (Puts and New in order of creation), and
/// writes it out for the Go program.
fn script(h: &History) -> Script {
    use std::fmt::Write as _;
    let next = Arc::new(Mutex::new(0u64));
    let bump = |next: &Mutex<u64>| {
        let mut n = next.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        *n - 1
    };
    let mut builder = victim_pool_reference::Pool::<u64>::builder();
    if h.config.new_fn {
        let next = next.clone();
        builder = builder.new_fn(move || bump(&next));
    }
    let pool = builder.build();
    let mut input = format!("pool {}\n", u8::from(h.config.new_fn));
    let mut expected = Vec::new();
    let mut hand: Vec<u64> = Vec::new();
    let mut used = BTreeSet::new();
    for (i, step) in h.steps.iter().enumerate() {
        let s = step.slot;
        let slot = pool.as_slot(s);
        if step.op != Op::Cleanup {
            used.insert(s);
        }
        let put = |id: u64, input: &mut String| {
            slot.put(id);
            let _ = writeln!(input, "put {s} {id}");
        };
        let mut got = |v: Option<u64>, hand: &mut Vec<u64>| {
            expected.push(Expect {
                step: Some(i),
                line: tag_line(v),
            });
            hand.extend(v);
        };
        match step.op {
            Op::Put => put(bump(&next), &mut input),
            Op::PutMany(n) => {
                for _ in 0..n {
                    put(bump(&next), &mut input);
                }
            }
            Op::PutBack => {
                if let Some(id) = hand.pop() {
                    put(id, &mut input);
                }
            }
            Op::Get if h.config.new_fn => {
                let fresh = *next.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = writeln!(input, "get {s} {fresh}");
                got(Some(slot.get()), &mut hand);
            }
            Op::Get => {
                let _ = writeln!(input, "tryget {s}");
                got(slot.try_get(), &mut hand);
            }
            Op::GetMany(n) => {
                for _ in 0..n {
                    let _ = writeln!(input, "tryget {s}");
                    got(slot.try_get(), &mut hand);
                }
            }
            Op::Cleanup => {
                pool.cleanup();
                input.push_str("cleanup\n");
            }
        }
    }
    for &s in &used {
        let _ = writeln!(input, "drain {s}");
        let mut line = "drain".to_string();
        loop {
            let v = pool.as_slot(s).try_get();
            let _ = write!(line, " {}", tag_line(v));
            if v.is_none() {
                break;
            }
        }
        expected.push(Expect { step: None, line });
    }
    input.push_str("end\n");
    Script { input, expected }
}

/// How long one history may take in the Go program before it counts as
/// hung (a pin that never lands on its P, a deadlock): it is killed and
/// go-diff fails with an error instead of hanging.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running Go program for one slot count.
struct GoProcess {
    child: Arc<Mutex<Child>>,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// When the history in flight was sent (`None`: idle); read by the
    /// watchdog.
    busy_since: Arc<Mutex<Option<Instant>>>,
    /// Ends the watchdog.
    closed: Arc<AtomicBool>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GoProcess {
    fn start(build: &GoBuild, slots: usize) -> Result<Self, String> {
        let mut child = Command::new(&build.binary)
            .arg("-slots")
            .arg(slots.to_string())
            // Nothing may start a collection but the history's cleanups.
            .env_remove("GOGC")
            .env_remove("GOMEMLIMIT")
            .env_remove("GODEBUG")
            .env_remove("GOMAXPROCS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", build.binary.display()))?;
        let stdin = BufWriter::new(child.stdin.take().ok_or("no stdin")?);
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let child = Arc::new(Mutex::new(child));
        let busy_since = Arc::new(Mutex::new(None::<Instant>));
        let closed = Arc::new(AtomicBool::new(false));
        {
            let (child, busy_since, closed) = (child.clone(), busy_since.clone(), closed.clone());
            std::thread::spawn(move || {
                while !closed.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let hung = locked(&busy_since).is_some_and(|t| t.elapsed() > HISTORY_TIMEOUT);
                    if hung {
                        // The blocked read then sees the end of the output.
                        let _ = locked(&child).kill();
                        return;
                    }
                }
            });
        }
        Ok(Self {
            child,
            stdin,
            stdout,
            busy_since,
            closed,
        })
    }

    /// Runs one history; the answer lines (without the closing `end`).
    fn run(&mut self, input: &str) -> Result<Vec<String>, String> {
        *locked(&self.busy_since) = Some(Instant::now());
        let answer = self.exchange(input);
        *locked(&self.busy_since) = None;
        answer
    }

    fn exchange(&mut self, input: &str) -> Result<Vec<String>, String> {
        self.stdin
            .write_all(input.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("writing to the Go program: {e}"))?;
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self
                .stdout
                .read_line(&mut line)
                .map_err(|e| format!("reading from the Go program: {e}"))?;
            let line = line.trim_end().to_string();
            if n == 0 {
                return Err(format!(
                    "the Go program exited before answering (killed if a history took over {}s)",
                    HISTORY_TIMEOUT.as_secs()
                ));
            }
            if line.starts_with("error") {
                return Err(format!("the Go program: {line}"));
            }
            if line == "end" {
                return Ok(lines);
            }
            lines.push(line);
        }
    }
}

impl Drop for GoProcess {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
        let mut child = locked(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// One compared history: Go's answers, the first disagreement.
struct Compared {
    gets: u64,
    go: GoCase,
    divergence: Option<(Option<usize>, String)>,
}

fn parse_tag(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// Runs `h` on the reference and on Go, compares every answer.
fn compare(
    h: &History,
    go: &mut GoProcess,
    build: &GoBuild,
    slots: usize,
) -> Result<Compared, String> {
    let script = script(h);
    let answers = go.run(&script.input)?;
    let mut case = GoCase {
        version: build.version.clone(),
        slots,
        got: vec![Vec::new(); h.steps.len()],
        drained: Vec::new(),
    };
    let mut divergence = None;
    for (i, exp) in script.expected.iter().enumerate() {
        let Some(answer) = answers.get(i) else {
            return Err(format!(
                "the Go program gave {} answers, {} expected",
                answers.len(),
                script.expected.len()
            ));
        };
        match exp.step {
            Some(s) => case.got[s].push(parse_tag(answer)),
            None => case
                .drained
                .extend(answer.split_whitespace().skip(1).map(parse_tag)),
        }
        if divergence.is_none() && *answer != exp.line {
            let what = match exp.step {
                Some(s) => format!("step {s} ({})", describe(h.steps[s])),
                None => "the end drain".to_string(),
            };
            divergence = Some((
                exp.step,
                format!(
                    "{what}: reference {:?}, Go {} {:?} ({slots} slots)",
                    exp.line, build.version, answer
                ),
            ));
        }
    }
    Ok(Compared {
        gets: script.expected.len() as u64,
        go: case,
        divergence,
    })
}

/// Runs go-diff with a progress bar, prints the totals (the summary line
/// last), writes the JSON and JUnit reports asked for.
pub fn run_reported(
    build: &GoBuild,
    opts: &GoDiffOptions,
    json: Option<&Path>,
    junit_out: Option<&Path>,
) -> Result<GoDiffStats, String> {
    println!(
        "poolcheck go-diff: reference vs {} ({}{}), slots {:?}, seed {}, budget {:.0}s",
        build.version,
        build.go.display(),
        if build.pins {
            ""
        } else {
            ", no linkname: 1 slot only"
        },
        opts.slots,
        opts.seed,
        opts.budget.as_secs_f64()
    );
    let bar = if opts.progress {
        let bar = ProgressBar::new(opts.budget.as_secs().max(1));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "go-diff [{bar:28.cyan/blue}] {elapsed}/{len}s {wide_msg}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let stats = go_diff(build, opts, &bar);
    bar.finish_and_clear();
    let stats = stats?;
    for t in &stats.per_slots {
        println!(
            "  slots {}: {} histories, {} steps, {} Get results compared ({:.0} histories/s)",
            t.slots,
            t.histories,
            t.steps,
            t.gets,
            t.histories as f64 / stats.seconds.max(1e-9)
        );
    }
    for k in &stats.not_run {
        println!(
            "  slots {k}: NOT RUN ({} refuses the linkname to runtime.procPin)",
            build.version
        );
    }
    for f in &stats.failures {
        let failure = crate::replay::load(f)?;
        println!("  DIVERGENCE: {}", failure.message);
        println!("    poolcheck replay {}", f.display());
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = junit_out {
        std::fs::write(path, junit(&stats))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("  {:.1}s", stats.seconds);
    println!("{}", stats.summary());
    Ok(stats)
}

/// Runs go-diff: one thread (and one Go process) per slot count until the
/// budget runs out.
pub fn go_diff(
    build: &GoBuild,
    opts: &GoDiffOptions,
    bar: &ProgressBar,
) -> Result<GoDiffStats, String> {
    let (runnable, not_run): (Vec<usize>, Vec<usize>) =
        opts.slots.iter().partition(|&&k| k == 1 || build.pins);
    if runnable.is_empty() {
        return Err(format!(
            "no slot count can run with {} (it refuses the linkname, so only 1 slot)",
            build.version
        ));
    }
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let results: Vec<Result<SlotTotals, String>> = std::thread::scope(|s| {
        let workers: Vec<_> = runnable
            .iter()
            .map(|&k| {
                let (stop, done) = (&stop, &done);
                s.spawn(move || worker(build, opts, k, start, stop, done))
            })
            .collect();
        while workers.iter().any(|w| !w.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            bar.set_position(start.elapsed().as_secs().min(opts.budget.as_secs()));
            bar.set_message(format!("{} histories", done.load(Ordering::Relaxed)));
        }
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a go-diff worker panicked".into()))
            })
            .collect()
    });
    let mut stats = GoDiffStats {
        go_version: build.version.clone(),
        not_run,
        ..GoDiffStats::default()
    };
    for r in results {
        let totals = r?;
        stats.failures.extend(totals.failure.clone());
        stats.per_slots.push(totals);
    }
    stats.seconds = start.elapsed().as_secs_f64();
    Ok(stats)
}

/// The histories of one slot count, until the budget runs out or a
/// divergence (shrunk and saved) stops them all.
fn worker(
    build: &GoBuild,
    opts: &GoDiffOptions,
    slots: usize,
    start: Instant,
    stop: &AtomicBool,
    done: &AtomicU64,
) -> Result<SlotTotals, String> {
    let mut go = GoProcess::start(build, slots)?;
    let mut totals = SlotTotals {
        slots,
        ..SlotTotals::default()
    };
    let mut n = 0u64;
    while start.elapsed() < opts.budget && !stop.load(Ordering::Relaxed) {
        let seed = opts.seed.wrapping_add(n);
        n += 1;
        let h = for_slots(fuzz::sequential_from_seed(seed), slots);
        let c = compare(&h, &mut go, build, slots)?;
        totals.histories += 1;
        totals.steps += h.steps.len() as u64;
        totals.gets += c.gets;
        done.fetch_add(1, Ordering::Relaxed);
        if c.divergence.is_some() {
            stop.store(true, Ordering::Relaxed);
            totals.failure = Some(save_divergence(h, seed, &mut go, build, slots, &opts.dir)?);
            return Ok(totals);
        }
    }
    Ok(totals)
}

/// Shrinks a diverging history (on the same Go process) and saves it.
fn save_divergence(
    h: History,
    seed: u64,
    go: &mut GoProcess,
    build: &GoBuild,
    slots: usize,
    dir: &Path,
) -> Result<PathBuf, String> {
    let mut error = None;
    let h = fuzz::shrink_with(h, |c| match compare(c, go, build, slots) {
        Ok(r) => r.divergence.map(|(at, _)| at),
        Err(e) => {
            error = Some(e);
            None
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    let c = compare(&h, go, build, slots)?;
    let message = c
        .divergence
        .map(|(_, m)| m)
        .unwrap_or_else(|| "divergence (did not reproduce after shrinking)".into());
    failure::save(
        dir,
        &Failure {
            format: FORMAT.to_string(),
            kind: Kind::GoDiff,
            seed,
            mutant: built_mutant(),
            message,
            history: Some(h),
            concurrent: None,
            observed: None,
            shuttle: None,
            go: Some(c.go),
        },
    )
}

/// The run as JUnit XML: one test case per slot count.
pub fn junit(stats: &GoDiffStats) -> String {
    use std::fmt::Write as _;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let failed = usize::from(!stats.failures.is_empty());
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    let _ = writeln!(
        x,
        "  <testsuite name=\"go-diff\" tests=\"{}\" failures=\"{failed}\" time=\"{:.3}\">",
        stats.per_slots.len() + stats.not_run.len(),
        stats.seconds
    );
    for t in &stats.per_slots {
        let _ = write!(
            x,
            "    <testcase classname=\"go-diff\" name=\"{} slots: {} histories agree with {}\">",
            t.slots,
            t.histories,
            esc(&stats.go_version)
        );
        if let Some(f) = &t.failure {
            let _ = write!(
                x,
                "<failure message=\"divergence saved: {}\"/>",
                esc(&f.display().to_string())
            );
        }
        x.push_str("</testcase>\n");
    }
    for k in &stats.not_run {
        let _ = writeln!(
            x,
            "    <testcase classname=\"go-diff\" name=\"{k} slots\"><skipped message=\"{} refuses the linkname to runtime.procPin\"/></testcase>",
            esc(&stats.go_version)
        );
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
