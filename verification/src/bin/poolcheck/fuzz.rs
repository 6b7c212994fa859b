//! `poolcheck fuzz`: in-process differential fuzzing (the failure files it
//! writes are `crate::failure`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use victim_pool_verification::adversary::{self, Config};
use victim_pool_verification::rng::Rng;

use crate::conc::{self, ConcHistory};
use crate::failure::{built_mutant, save, Failure, Kind, FORMAT};
use crate::history::{self, History, Op};

/// Options of `poolcheck fuzz`.
#[derive(Clone, Debug)]
pub struct FuzzOptions {
    /// Worker threads.
    pub threads: usize,
    /// How long to fuzz.
    pub budget: Duration,
    /// Base seed.
    pub seed: u64,
    /// Where failures go.
    pub dir: PathBuf,
    /// Stop at the first failure.
    pub stop_on_failure: bool,
    /// Show a live spinner.
    pub progress: bool,
}

/// Totals of a fuzz run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FuzzStats {
    /// Sequential histories run.
    pub sequential: u64,
    /// Concurrent histories run.
    pub concurrent: u64,
    /// Adversarial runs (re-entrant hooks and items).
    pub adversarial: u64,
    /// Steps of sequential histories.
    pub steps: u64,
    /// Seconds spent.
    pub seconds: f64,
    /// Failure files written.
    pub failures: Vec<PathBuf>,
}

/// A sequential history from `seed`: random bytes through the same decoder
/// as the cargo-fuzz target.
pub fn sequential_from_seed(seed: u64) -> History {
    let mut rng = Rng::new(seed);
    let len = 1 + rng.below(160) as usize;
    let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    History::from_bytes(&bytes)
}

/// Removes steps and lowers counts while the history still diverges.
pub fn shrink(h: History) -> History {
    shrink_with(h, |h| history::run(h, false).divergence.map(|(at, _)| at))
}

/// Removes steps and lowers counts while `diverges` still finds a
/// divergence: `Some(Some(i))` at step `i`, `Some(None)` in the end checks,
/// `None` when the history passes.
pub fn shrink_with(
    mut h: History,
    mut diverges: impl FnMut(&History) -> Option<Option<usize>>,
) -> History {
    let mut progress = true;
    let mut rounds = 0;
    while progress && rounds < 20 {
        progress = false;
        rounds += 1;
        // Nothing after the divergence matters.
        if let Some(Some(i)) = diverges(&h) {
            h.steps.truncate(i + 1);
        }
        let mut chunk = (h.steps.len() / 2).max(1);
        loop {
            let mut i = 0;
            while i < h.steps.len() {
                let mut c = h.clone();
                let end = (i + chunk).min(c.steps.len());
                c.steps.drain(i..end);
                if diverges(&c).is_some() {
                    h = c;
                    progress = true;
                } else {
                    i += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
        for i in 0..h.steps.len() {
            let lower = match h.steps[i].op {
                Op::PutMany(n) if n > 1 => Some(Op::PutMany(n / 2)),
                Op::GetMany(n) if n > 1 => Some(Op::GetMany(n / 2)),
                _ => None,
            };
            if let Some(op) = lower {
                let mut c = h.clone();
                c.steps[i].op = op;
                if diverges(&c).is_some() {
                    h = c;
                    progress = true;
                }
            }
        }
    }
    h
}

/// Runs one history of either kind from `seed`: the number of sequential
/// steps run, and the failure, if any.
pub fn one(seed: u64, concurrent: bool) -> (u64, Option<Failure>) {
    let mutant = built_mutant();
    if concurrent {
        let h = ConcHistory::generate(&mut Rng::new(seed));
        let outcome = conc::run(&h);
        let failure = outcome.violation.clone().map(|message| Failure {
            format: FORMAT.to_string(),
            kind: Kind::Concurrent,
            seed,
            mutant,
            message,
            history: None,
            concurrent: Some(h),
            observed: Some(outcome),
            shuttle: None,
            go: None,
        });
        (0, failure)
    } else {
        let h = sequential_from_seed(seed);
        let steps = h.steps.len() as u64;
        let failure = history::run(&h, false).divergence.map(|_| {
            let h = shrink(h);
            let message = history::run(&h, false)
                .divergence
                .map(|(_, m)| m)
                .unwrap_or_else(|| "divergence (did not reproduce after shrinking)".into());
            Failure {
                format: FORMAT.to_string(),
                kind: Kind::Sequential,
                seed,
                mutant,
                message,
                history: Some(h),
                concurrent: None,
                observed: None,
                shuttle: None,
                go: None,
            }
        });
        (steps, failure)
    }
}

/// The adversary of adversarial run `seed`: 2–4 threads of 10–200 steps,
/// hooks nested up to 1–3 deep, with or without a per-thread bound (with
/// one, Puts drop items, running `T::drop` from inside Put), and every
/// fourth run with `T::drop` giving the thread's slot id back first.
pub fn adversarial_setup(seed: u64) -> (Config, usize, usize) {
    let mut rng = Rng::new(seed ^ 0xad5e_75a1);
    let config = Config {
        max_depth: 1 + rng.below(3) as u32,
        meddle_percent: 20 + rng.below(81),
        panics: rng.below(4) != 0,
        global: true,
        max_per_thread: match rng.below(3) {
            0 => None,
            _ => Some(1 + rng.below(3) as usize),
        },
        drop_releases_slot: rng.below(4) == 0,
    };
    let threads = 2 + rng.below(3) as usize;
    let ops = 10 + rng.below(191) as usize;
    (config, threads, ops)
}

/// Runs adversarial run `seed`; the failure, if any.
pub fn one_adversarial(seed: u64) -> Option<Failure> {
    let (config, threads, ops) = adversarial_setup(seed);
    let result = adversary::run_threads(seed, config, threads, ops);
    result.err().map(|message| Failure {
        format: FORMAT.to_string(),
        kind: Kind::Adversarial,
        seed,
        mutant: built_mutant(),
        message: format!("{message} ({threads} threads x {ops} steps, {config:?})"),
        history: None,
        concurrent: None,
        observed: None,
        shuttle: None,
        go: None,
    })
}

/// Which runs are adversarial: `POOLCHECK_ADVERSARIAL=only` (every run),
/// `off` (none); by default one seed in eight.
fn is_adversarial(seed: u64) -> bool {
    match std::env::var("POOLCHECK_ADVERSARIAL").as_deref() {
        Ok("only" | "all" | "1") => true,
        Ok("off" | "none" | "0") => false,
        _ => seed % 8 == 5,
    }
}

/// Held (shared) by a worker while it runs a history; taken exclusively to
/// prune the global pool registries of both implementations with
/// `cleanup_all` at a moment when no pool is alive (dead entries are only
/// pruned there; without it, memory grows with every history).
static GATE: RwLock<()> = RwLock::new(());

/// Prunes both implementations' registries of dropped pools.
fn prune_registries() {
    let _all = GATE.write().unwrap_or_else(PoisonError::into_inner);
    victim_pool::cleanup_all();
    victim_pool_reference::cleanup_all();
}

struct Counters {
    seq: AtomicU64,
    conc: AtomicU64,
    adversarial: AtomicU64,
    steps: AtomicU64,
    stop: AtomicBool,
    failures: Mutex<Vec<PathBuf>>,
    errors: Mutex<Vec<String>>,
}

fn worker(opts: &FuzzOptions, w: usize, deadline: Instant, c: &Counters) {
    let mut i: u64 = 0;
    while Instant::now() < deadline && !c.stop.load(Ordering::Relaxed) {
        // One seed names one history whatever the thread count.
        let seed = opts
            .seed
            .wrapping_add(i.wrapping_mul(opts.threads as u64) + w as u64);
        i += 1;
        if is_adversarial(seed) {
            // Alone: its hooks call `cleanup_all` and `release_thread_slot`,
            // which would disturb the differential runs of other workers.
            let failure = {
                let _alone = GATE.write().unwrap_or_else(PoisonError::into_inner);
                one_adversarial(seed)
            };
            c.adversarial.fetch_add(1, Ordering::Relaxed);
            record(opts, c, failure);
            continue;
        }
        let concurrent = seed % 4 == 3;
        let (n, failure) = {
            let _running = GATE.read().unwrap_or_else(PoisonError::into_inner);
            one(seed, concurrent)
        };
        c.steps.fetch_add(n, Ordering::Relaxed);
        if concurrent {
            c.conc.fetch_add(1, Ordering::Relaxed);
        } else {
            c.seq.fetch_add(1, Ordering::Relaxed);
        }
        record(opts, c, failure);
    }
}

/// Saves a failure (and stops the run if asked to).
fn record(opts: &FuzzOptions, c: &Counters, failure: Option<Failure>) {
    if let Some(f) = failure {
        match save(&opts.dir, &f) {
            Ok(p) => c.failures.lock().unwrap_or_else(|e| e.into_inner()).push(p),
            Err(e) => c.errors.lock().unwrap_or_else(|e| e.into_inner()).push(e),
        }
        if opts.stop_on_failure {
            c.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// `poolcheck fuzz`.
pub fn fuzz(opts: &FuzzOptions) -> Result<FuzzStats, String> {
    crate::context::quiet_panics();
    let c = Counters {
        seq: AtomicU64::new(0),
        conc: AtomicU64::new(0),
        adversarial: AtomicU64::new(0),
        steps: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        failures: Mutex::new(Vec::new()),
        errors: Mutex::new(Vec::new()),
    };
    let start = Instant::now();
    let deadline = start + opts.budget;
    let bar = if opts.progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .map_err(|e| e.to_string())?,
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..opts.threads)
            .map(|w| {
                let c = &c;
                s.spawn(move || worker(opts, w, deadline, c))
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(200));
            prune_registries();
            let t = start.elapsed().as_secs_f64().max(1e-9);
            let (a, b) = (
                c.seq.load(Ordering::Relaxed),
                c.conc.load(Ordering::Relaxed),
            );
            let nf = c.failures.lock().map(|f| f.len()).unwrap_or(0);
            bar.set_message(format!(
                "sequential {a} ({:.0}/s, {:.0} steps/s)  concurrent {b} ({:.0}/s)  adversarial {}  failures {nf}",
                a as f64 / t,
                c.steps.load(Ordering::Relaxed) as f64 / t,
                b as f64 / t,
                c.adversarial.load(Ordering::Relaxed)
            ));
            bar.tick();
        }
    });
    bar.finish_and_clear();
    if let Some(e) = c.errors.into_inner().unwrap_or_default().into_iter().next() {
        return Err(e);
    }
    let mut failures = c.failures.into_inner().unwrap_or_default();
    failures.sort();
    failures.dedup();
    let adversarial = c.adversarial.into_inner();
    println!(
        "poolcheck fuzz: {adversarial} adversarial runs (re-entrant hooks and items; POOLCHECK_ADVERSARIAL=only|off, default one seed in eight)"
    );
    Ok(FuzzStats {
        sequential: c.seq.into_inner(),
        concurrent: c.conc.into_inner(),
        adversarial,
        steps: c.steps.into_inner(),
        seconds: start.elapsed().as_secs_f64(),
        failures,
    })
}
