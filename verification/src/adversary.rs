//! Adversarial items: user code that calls back into the pool.
//!
//! The `Drop` and `Clone` of an [`Evil`] item, and the New and reset hooks of
//! a pool built by [`Adversary::pool`], call back into the pool API at random
//! (seeded): Put, Get, `try_get`, guards kept or dropped, a
//! [`LocalHandle`](victim_pool::LocalHandle), `cleanup`,
//! `cleanup_detached`, `cleanup_all`, `release_thread_slot`, `stats`,
//! another pool created, used and dropped, and panics. Re-entrance is
//! bounded by a per-thread depth, so it terminates.
//!
//! Whatever the hooks do, [`Adversary::finish`] checks afterwards that every
//! item ever created was dropped exactly once (the [`Ledger`]), that no Get
//! handed out an item that user code still held (a duplicate), and that no
//! item was read after its drop (its canary). Under ASan or Miri a
//! use-after-free inside the pool is reported by the tool itself.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use victim_pool::Pool;

use crate::ledger::{Ledger, Tracked};
use crate::rng::Rng;

#[cfg(not(shuttle))]
std::thread_local! {
    /// How many hooks are nested on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}
#[cfg(shuttle)]
shuttle::thread_local! {
    /// How many hooks are nested on this (shuttle) thread.
    static DEPTH: Cell<u32> = Cell::new(0);
}

/// This thread's hook depth; `None` during thread-local teardown.
fn depth() -> Option<u32> {
    #[cfg(not(shuttle))]
    return DEPTH.try_with(Cell::get).ok();
    #[cfg(shuttle)]
    return Some(DEPTH.with(Cell::get));
}

fn set_depth(depth: u32) {
    #[cfg(not(shuttle))]
    let _ = DEPTH.try_with(|d| d.set(depth));
    #[cfg(shuttle)]
    DEPTH.with(|d| d.set(depth));
}

/// Restores the hook depth when a hook returns or unwinds.
struct Nested(u32);

impl Drop for Nested {
    fn drop(&mut self) {
        set_depth(self.0);
    }
}

/// What the adversary may do.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// How deep hooks may nest on one thread (0: they never call back).
    pub max_depth: u32,
    /// Percent of hook calls that call back at all.
    pub meddle_percent: u64,
    /// Hooks may panic; every operation must then run under `catch_unwind`
    /// (as [`Adversary::step`] does).
    pub panics: bool,
    /// Hooks may call the process-wide `cleanup_all` and
    /// `release_thread_slot`.
    pub global: bool,
    /// The pool's `max_per_thread`: with `Some`, Puts beyond the bound drop
    /// their item, which runs `T::drop` from inside Put.
    pub max_per_thread: Option<usize>,
    /// Every item's `Drop` first gives the thread's slot id back
    /// (`release_thread_slot`), before anything else it does: a drop run
    /// inside an operation then hands the slot to the next thread that
    /// leases an id while the operation is still in progress.
    pub drop_releases_slot: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_depth: 2,
            meddle_percent: 50,
            panics: true,
            global: true,
            max_per_thread: Some(3),
            drop_releases_slot: false,
        }
    }
}

/// Where user code was called from.
#[derive(Clone, Copy, Debug)]
enum Site {
    Drop,
    Clone,
    New,
    Reset,
}

/// What a run of adversarial items did (to show the adversary was active).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Items created (all dropped exactly once).
    pub items: u64,
    /// Pool API calls made from inside hooks.
    pub reentrant_calls: u64,
    /// Panics raised by hooks.
    pub panics: u64,
}

/// The shared state of one adversarial test: its items, its pool, and what
/// the checks saw.
pub struct Adversary {
    config: Config,
    seed: u64,
    ledger: Arc<Ledger>,
    next_id: AtomicU64,
    /// Draws of the hooks' random source (a per-call seed).
    draws: AtomicU64,
    /// The pool the hooks call back into (weak: no cycle through the hooks).
    target: OnceLock<Weak<Pool<Evil>>>,
    /// Ids handed out by a Get and not yet put back or dropped.
    out: Mutex<BTreeSet<u64>>,
    /// Items the hooks took out of the pool and kept for later.
    kept: Mutex<Vec<Evil>>,
    violations: Mutex<Vec<String>>,
    /// Set while finishing: hooks no longer call back.
    quiet: AtomicBool,
    reentrant_calls: AtomicU64,
    panics: AtomicU64,
}

impl fmt::Debug for Adversary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adversary")
            .field("config", &self.config)
            .field("seed", &self.seed)
            .field("items", &self.next_id.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Adversary {
    /// A fresh adversary drawing from `seed`.
    pub fn new(seed: u64, config: Config) -> Arc<Self> {
        Arc::new(Self {
            config,
            seed,
            ledger: Ledger::new(),
            next_id: AtomicU64::new(0),
            draws: AtomicU64::new(0),
            target: OnceLock::new(),
            out: Mutex::new(BTreeSet::new()),
            kept: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            quiet: AtomicBool::new(false),
            reentrant_calls: AtomicU64::new(0),
            panics: AtomicU64::new(0),
        })
    }

    /// The pool under test: New and reset call back into it, and so do the
    /// items' `Drop` and `Clone`. Only the first call makes the target.
    pub fn pool(self: &Arc<Self>) -> Arc<Pool<Evil>> {
        let pool = Arc::new(self.build_pool(self.config.max_per_thread));
        let _ = self.target.set(Arc::downgrade(&pool));
        pool
    }

    /// A pool with this adversary's New and reset hooks.
    fn build_pool(self: &Arc<Self>, max_per_thread: Option<usize>) -> Pool<Evil> {
        let (new, reset) = (self.clone(), self.clone());
        let builder = Pool::builder()
            .new_fn(move || {
                new.meddle(Site::New);
                new.fresh()
            })
            .reset(move |item: &mut Evil| {
                // The item goes back into a pool: it is no longer held.
                reset.released(item);
                reset.meddle(Site::Reset);
            });
        match max_per_thread {
            Some(max) => builder.max_per_thread(max),
            None => builder,
        }
        .build()
    }

    /// A new item.
    pub fn fresh(self: &Arc<Self>) -> Evil {
        Evil {
            item: self
                .ledger
                .item(self.next_id.fetch_add(1, Ordering::Relaxed)),
            adversary: self.clone(),
        }
    }

    /// Records that a Get returned `item`: it must be live and not held by
    /// anyone else.
    pub fn got(&self, item: &Evil) {
        match item.item.checked_id() {
            Ok(id) => {
                if !lock(&self.out).insert(id) {
                    self.violation(format!(
                        "item {id} handed out by a Get while user code still held it"
                    ));
                }
            }
            Err(e) => self.violation(format!("a Get returned a dropped item: {e}")),
        }
    }

    /// `item` leaves user code (put back or dropped).
    fn released(&self, item: &Evil) {
        match item.item.checked_id() {
            Ok(id) => {
                lock(&self.out).remove(&id);
            }
            Err(e) => self.violation(e),
        }
    }

    fn violation(&self, message: String) {
        lock(&self.violations).push(message);
    }

    /// The pool the hooks target, while it is alive.
    fn target(&self) -> Option<Arc<Pool<Evil>>> {
        self.target.get().and_then(Weak::upgrade)
    }

    fn rng(&self) -> Rng {
        let draw = self.draws.fetch_add(1, Ordering::Relaxed);
        Rng::new(self.seed ^ draw.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// User code at `site`: maybe calls back into the pool, maybe panics.
    fn meddle(self: &Arc<Self>, site: Site) {
        if self.quiet.load(Ordering::Relaxed) || std::thread::panicking() {
            return;
        }
        let Some(depth) = depth() else {
            return;
        };
        if depth >= self.config.max_depth {
            return;
        }
        let mut rng = self.rng();
        if rng.below(100) >= self.config.meddle_percent {
            return;
        }
        set_depth(depth + 1);
        let _nested = Nested(depth);
        for _ in 0..1 + rng.below(2) {
            self.act(&mut rng);
        }
        if self.config.panics && rng.below(6) == 0 {
            self.panics.fetch_add(1, Ordering::Relaxed);
            panic!("adversarial panic in {site:?}");
        }
    }

    /// One re-entrant call.
    fn act(self: &Arc<Self>, rng: &mut Rng) {
        self.reentrant_calls.fetch_add(1, Ordering::Relaxed);
        let global = self.config.global;
        let pool = self.target();
        match (rng.below(16), pool) {
            (0, _) if global => victim_pool::cleanup_all(),
            (1, _) if global => victim_pool::release_thread_slot(),
            (2, _) => self.other_pool(rng),
            (3, Some(pool)) => pool.put(self.fresh()),
            (4, Some(pool)) => {
                let item = pool.get();
                self.got(&item);
                self.dispose(&pool, item, rng);
            }
            (5, Some(pool)) => {
                if let Some(item) = pool.try_get() {
                    self.got(&item);
                    self.dispose(&pool, item, rng);
                }
            }
            (6, Some(pool)) => {
                let guard = pool.get_guard();
                self.got(&guard);
                self.keep(guard.into_inner());
            }
            (7, Some(pool)) => {
                let guard = pool.get_guard();
                self.got(&guard);
                drop(guard);
            }
            (8, Some(pool)) => drop(pool.guard(self.fresh())),
            (9, Some(pool)) => pool.cleanup(),
            (10, Some(pool)) => drop(pool.cleanup_detached()),
            (11, Some(pool)) => {
                let stats = pool.stats();
                std::hint::black_box(stats.gets());
            }
            (12, Some(pool)) => {
                let kept = lock(&self.kept).pop();
                if let Some(item) = kept {
                    pool.put(item);
                }
            }
            (13, Some(pool)) => {
                let local = pool.local();
                local.put(self.fresh());
                if let Some(item) = local.try_get() {
                    self.got(&item);
                    drop(local);
                    self.dispose(&pool, item, rng);
                }
            }
            (14, Some(pool)) => {
                // Dropping the upgraded handle may drop the pool itself, if
                // the test let go of it meanwhile: a pool dropped from inside
                // a hook.
                drop(pool);
            }
            _ => {}
        }
    }

    /// An item a hook got: dropped, put back or kept.
    fn dispose(self: &Arc<Self>, pool: &Pool<Evil>, item: Evil, rng: &mut Rng) {
        match rng.below(3) {
            0 => drop(item),
            1 => pool.put(item),
            _ => self.keep(item),
        }
    }

    fn keep(&self, item: Evil) {
        lock(&self.kept).push(item);
    }

    /// Creates another pool, uses it and drops it (its items call back into
    /// the target pool).
    fn other_pool(self: &Arc<Self>, rng: &mut Rng) {
        let other = self.build_pool(Some(1 + rng.below(2) as usize));
        for _ in 0..1 + rng.below(3) {
            other.put(self.fresh());
        }
        if rng.below(2) == 0 {
            if let Some(item) = other.try_get() {
                self.got(&item);
                drop(item);
            }
        }
        if rng.below(2) == 0 {
            other.cleanup();
        }
        drop(other);
    }

    /// One top-level operation of a test thread on `pool`, chosen by `rng`;
    /// items the thread got are kept in `held`. Every panic a hook raises is
    /// caught here (and counted by the adversary).
    pub fn step(self: &Arc<Self>, pool: &Pool<Evil>, held: &mut Vec<Evil>, rng: &mut Rng) {
        let choice = rng.below(14);
        let keep = rng.below(2) == 0;
        let pick = if held.is_empty() {
            0
        } else {
            rng.below(held.len() as u64) as usize
        };
        let result = catch_unwind(AssertUnwindSafe(|| match choice {
            0 | 1 => pool.put(self.fresh()),
            2 if !held.is_empty() => pool.put(held.swap_remove(pick)),
            3 | 4 => {
                let item = pool.get();
                self.got(&item);
                held.push(item);
            }
            5 => {
                if let Some(item) = pool.try_get() {
                    self.got(&item);
                    held.push(item);
                }
            }
            6 if !held.is_empty() => drop(held.swap_remove(pick)),
            7 => {
                let guard = pool.get_guard();
                self.got(&guard);
                if keep {
                    held.push(guard.into_inner());
                }
            }
            8 => pool.cleanup(),
            9 if self.config.global => victim_pool::cleanup_all(),
            10 if self.config.global => victim_pool::release_thread_slot(),
            11 => {
                let stats = pool.stats();
                std::hint::black_box(stats.gets());
            }
            12 => {
                let local = pool.local();
                local.put(self.fresh());
                if let Some(item) = local.try_get() {
                    self.got(&item);
                    held.push(item);
                }
            }
            _ => drop(pool.cleanup_detached()),
        }));
        self.expected(result);
    }

    /// Accepts a panic raised by a hook; any other panic (an assertion in
    /// the pool, a checker's) is a violation.
    pub fn expected(&self, result: std::thread::Result<()>) {
        if let Err(payload) = result {
            let text = panic_text(&*payload);
            if !text.starts_with("adversarial panic") {
                self.violation(format!("unexpected panic: {text}"));
            }
        }
    }

    /// Ends the test: drops what the threads still hold and what the hooks
    /// kept, drops the pool, and checks that every item ever created was
    /// dropped exactly once, that no Get handed out a held item and that no
    /// item was used after its drop.
    ///
    /// # Errors
    ///
    /// The first violations, in words.
    pub fn finish(
        self: &Arc<Self>,
        pool: Arc<Pool<Evil>>,
        held: impl IntoIterator<Item = Evil>,
    ) -> Result<Report, String> {
        for item in held {
            self.expected(catch_unwind(AssertUnwindSafe(|| drop(item))));
        }
        self.drain_kept();
        // A hook running on another thread of the process (items of this
        // pool released by another test's `cleanup_all`) may briefly hold
        // the pool.
        let start = std::time::Instant::now();
        let mut pool = pool;
        let pool = loop {
            match Arc::try_unwrap(pool) {
                Ok(pool) => break pool,
                Err(shared) if start.elapsed() < std::time::Duration::from_secs(5) => {
                    pool = shared;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(_) => {
                    return Err("the pool is still shared 5 s after the threads were joined".into())
                }
            }
        };
        // Its items' drops may still call `cleanup_all`, create pools, ...
        self.expected(catch_unwind(AssertUnwindSafe(|| drop(pool))));
        // A `cleanup_all` running on another thread of the process (another
        // test's) may still hold the pool's state and be dropping its last
        // items: a leak is an item still missing after that grace.
        let start = std::time::Instant::now();
        loop {
            self.drain_kept();
            if self.all_dropped() || start.elapsed() > std::time::Duration::from_secs(5) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.verdict()
    }

    fn all_dropped(&self) -> bool {
        let created = self.next_id.load(Ordering::SeqCst);
        let drops = self.ledger.drops();
        (0..created).all(|id| drops.contains_key(&id))
    }

    /// Drops the kept items (whose drops may keep more, a bounded number
    /// of rounds before the hooks are silenced).
    fn drain_kept(self: &Arc<Self>) {
        for round in 0.. {
            if round == 256 {
                self.quiet.store(true, Ordering::Relaxed);
            }
            let item = lock(&self.kept).pop();
            match item {
                Some(item) => self.expected(catch_unwind(AssertUnwindSafe(|| drop(item)))),
                None => break,
            }
        }
    }

    /// The checks, once every item should be gone.
    fn verdict(&self) -> Result<Report, String> {
        let created = self.next_id.load(Ordering::SeqCst);
        let drops = self.ledger.drops();
        let mut problems = lock(&self.violations).clone();
        for id in 0..created {
            match drops.get(&id).copied().unwrap_or(0) {
                1 => {}
                0 => problems.push(format!("item {id} was never dropped (lost)")),
                n => problems.push(format!("item {id} was dropped {n} times")),
            }
        }
        if let Some((id, _)) = drops.range(created..).next() {
            problems.push(format!("item {id} was dropped but never created"));
        }
        if problems.is_empty() {
            Ok(Report {
                items: created,
                reentrant_calls: self.reentrant_calls.load(Ordering::Relaxed),
                panics: self.panics.load(Ordering::Relaxed),
            })
        } else {
            let n = problems.len();
            problems.truncate(8);
            Err(format!(
                "adversarial items (seed {}, {n} violations): {}",
                self.seed,
                problems.join("; ")
            ))
        }
    }
}

/// Runs `threads` real threads of `ops` random [`Adversary::step`]s each
/// on one pool, plus a thread that runs `cleanup`, `cleanup_all` and
/// `release_thread_slot` meanwhile; then [`Adversary::finish`].
///
/// # Errors
///
/// A violation, or a panic that escaped a hook's `catch_unwind`.
#[cfg(not(shuttle))]
pub fn run_threads(
    seed: u64,
    config: Config,
    threads: usize,
    ops: usize,
) -> Result<Report, String> {
    let adversary = Adversary::new(seed, config);
    let pool = adversary.pool();
    let workers: Vec<_> = (0..threads as u64)
        .map(|t| {
            let (adversary, pool) = (adversary.clone(), pool.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed ^ (t + 1).wrapping_mul(0xa076_1d64_78bd_642f));
                let mut held = Vec::new();
                for _ in 0..ops {
                    adversary.step(&pool, &mut held, &mut rng);
                }
                held
            })
        })
        .collect();
    let cleaner = {
        let (adversary, pool) = (adversary.clone(), pool.clone());
        std::thread::spawn(move || {
            for i in 0..ops {
                adversary.expected(catch_unwind(AssertUnwindSafe(|| match i % 4 {
                    0 | 2 => pool.cleanup(),
                    1 if config.global => victim_pool::cleanup_all(),
                    _ => victim_pool::release_thread_slot(),
                })));
                std::thread::yield_now();
            }
        })
    };
    let mut held = Vec::new();
    let mut escaped = None;
    for worker in workers {
        match worker.join() {
            Ok(items) => held.extend(items),
            Err(_) => escaped = Some("a panic escaped a worker's catch_unwind".to_string()),
        }
    }
    if cleaner.join().is_err() {
        escaped = Some("a panic escaped the cleaner's catch_unwind".to_string());
    }
    let report = adversary.finish(pool, held);
    match escaped {
        Some(e) => Err(e),
        None => report,
    }
}

/// Silences the messages of expected panics — adversarial hooks' and
/// injected faults' (`victim-pool fault injection: ...`), which the tests
/// catch; every other panic is reported as before.
pub fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = panic_text(info.payload());
            if !text.starts_with("adversarial panic")
                && !text.starts_with("victim-pool fault injection")
            {
                previous(info);
            }
        }));
    });
}

/// The message of a panic payload (`""` if it is not a string).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
}

/// A pooled item whose `Drop` and `Clone` call back into its adversary's
/// pool ([`Adversary`]).
pub struct Evil {
    item: Tracked,
    adversary: Arc<Adversary>,
}

impl Evil {
    /// The item's identity.
    ///
    /// # Panics
    ///
    /// On a use-after-drop (see [`Tracked::id`]).
    pub fn id(&self) -> u64 {
        self.item.id()
    }
}

impl Clone for Evil {
    /// A clone is a new item (a new id in the ledger); cloning calls back
    /// into the pool like a drop does.
    fn clone(&self) -> Self {
        if let Err(e) = self.item.checked_id() {
            self.adversary.violation(format!("Clone: {e}"));
        }
        self.adversary.meddle(Site::Clone);
        self.adversary.fresh()
    }
}

impl Drop for Evil {
    fn drop(&mut self) {
        self.adversary.released(self);
        if self.adversary.config.drop_releases_slot && !self.adversary.quiet.load(Ordering::Relaxed)
        {
            victim_pool::release_thread_slot();
        }
        self.adversary.meddle(Site::Drop);
    }
}

impl fmt::Debug for Evil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Evil({:?})", self.item)
    }
}
