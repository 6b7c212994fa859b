//! The cleanup thread: the stand-in for Go's GC cadence, one per process.
//!
//! It runs two kinds of rounds: a pool built with a cleanup interval (the
//! default) is cleaned once that interval has passed since its last
//! cleanup, and every [`Sweeper`] cleans every pool on its own interval.
//! It runs only cleanup *protocols*, which run no user code; what they
//! release is dropped by a separate drop worker. So a `T::drop` that
//! blocks for ever or panics (even with a payload whose own drop panics)
//! never keeps another pool from being cleaned on schedule: the panic is
//! counted, and a worker stuck in a drop for [`STUCK_AFTER`] while items
//! wait is replaced (at most [`MAX_STUCK_WORKERS`] at once).
//!
//! The thread wakes only for what is scheduled now: its tick is a quarter
//! of the shortest interval among the pools *alive now* (1 ms to 1 s), and
//! with no such pool and no `Sweeper` it sleeps without a timeout.
//! [`set_automatic_cleanup`] (or the `VICTIM_POOL_AUTOMATIC_CLEANUP=0`
//! environment variable, read when the first pool is built) turns the
//! interval rounds off for the whole process; `Sweeper`s still run.
//!
//! Not under the model checkers (no background thread there: their pools
//! clean only when asked). Under Miri, pools are not cleaned by interval,
//! and the thread exits once no `Sweeper` is left (joined by the last
//! one's drop), so that no thread outlives a test. In a child of `fork`
//! the threads stayed in the parent; the child starts its own with the
//! next pool it builds or `Sweeper` it spawns.

use core::time::Duration;

/// How often a pool is cleaned when its builder does not say
/// ([`PoolBuilder::cleanup_interval`](crate::PoolBuilder::cleanup_interval)).
/// An item idle in a pool is dropped after two intervals, 5 to 10 seconds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The environment variable that turns automatic cleanup off for the whole
/// process when set to `0`, `false` or `off` (read once, when the first
/// pool is built; [`set_automatic_cleanup`] overrides it).
pub const AUTOMATIC_CLEANUP_ENV: &str = "VICTIM_POOL_AUTOMATIC_CLEANUP";

/// Shortest and longest tick of the interval rounds.
#[cfg(not(any(loom, shuttle)))]
const MIN_TICK: Duration = Duration::from_millis(1);
#[cfg(not(any(loom, shuttle)))]
const MAX_TICK: Duration = Duration::from_secs(1);

/// A drop worker busy with one job this long while others wait is given up
/// on and replaced.
#[cfg(not(any(loom, shuttle)))]
pub(crate) const STUCK_AFTER: Duration = Duration::from_millis(500);

/// At most this many workers are left stuck in a `T::drop` at once; beyond
/// that, released items wait for one of them to come back.
#[cfg(not(any(loom, shuttle)))]
pub(crate) const MAX_STUCK_WORKERS: usize = 8;

/// Thread names (Linux keeps 15 bytes of a name).
#[cfg(not(any(loom, shuttle)))]
const DRIVER_NAME: &str = "vpool-cleanup";
#[cfg(not(any(loom, shuttle)))]
const WORKER_NAME: &str = "vpool-drop";

#[cfg(not(any(loom, shuttle)))]
mod imp {
    use core::time::Duration;
    use std::collections::{BTreeMap, VecDeque};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
    use std::thread::JoinHandle;

    use super::{
        AUTOMATIC_CLEANUP_ENV, DRIVER_NAME, MAX_STUCK_WORKERS, MAX_TICK, MIN_TICK, STUCK_AFTER,
        WORKER_NAME,
    };
    use crate::process::registry::{self, lock_registry, DropCounted};

    /// Nanoseconds on a monotonic clock (the same origin for the whole
    /// process, its `fork` children included).
    pub(crate) fn now() -> u64 {
        #[cfg(all(unix, not(miri)))]
        {
            let mut time = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `time` is a valid out-pointer; CLOCK_MONOTONIC always
            // exists. No lazy initialisation, so no lock a fork could copy
            // held.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut time) };
            (time.tv_sec as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(time.tv_nsec as u64)
        }
        #[cfg(not(all(unix, not(miri))))]
        {
            static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            EPOCH
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_nanos() as u64
        }
    }

    fn nanos(duration: Duration) -> u64 {
        duration.as_nanos().try_into().unwrap_or(u64::MAX)
    }

    /// A registered [`Sweeper`](super::Sweeper).
    struct SweeperEntry {
        id: u64,
        interval: u64,
        next_due: u64,
        /// Rounds in which a released item's drop panicked.
        panics: Arc<AtomicU64>,
    }

    /// What is scheduled: pure bookkeeping, no threads (unit-tested alone).
    #[derive(Default)]
    pub(super) struct Schedule {
        /// Interval (ns) → how many live pools clean automatically that
        /// often.
        pool_intervals: BTreeMap<u64, usize>,
        /// When the next interval round is due (ns, [`now`]).
        next_pool_round: u64,
        sweepers: Vec<SweeperEntry>,
    }

    /// What one wake-up found due.
    #[derive(Default)]
    pub(super) struct Due {
        /// An interval round over every pool.
        pub(super) pools: bool,
        /// The panic counters of the `Sweeper`s whose round is due.
        pub(super) sweepers: Vec<Arc<AtomicU64>>,
    }

    impl Schedule {
        pub(super) const fn new() -> Self {
            Self {
                pool_intervals: BTreeMap::new(),
                next_pool_round: 0,
                sweepers: Vec::new(),
            }
        }

        pub(super) fn add_pool(&mut self, interval: u64) {
            *self.pool_intervals.entry(interval).or_default() += 1;
        }

        pub(super) fn remove_pool(&mut self, interval: u64) {
            // MUTANT (verification/) `tick_never_recovers`: the old tick
            // followed the shortest interval any pool ever had.
            if cfg!(victim_pool_mutant = "tick_never_recovers") {
                return;
            }
            if let Some(count) = self.pool_intervals.get_mut(&interval) {
                *count -= 1;
                if *count == 0 {
                    self.pool_intervals.remove(&interval);
                }
            }
        }

        /// The interval rounds' tick: a quarter of the shortest interval
        /// among the pools alive now; `None` with no such pool or when
        /// automatic cleanup is off.
        pub(super) fn pool_tick(&self, enabled: bool) -> Option<u64> {
            let shortest = *self.pool_intervals.keys().next().filter(|_| enabled)?;
            Some((shortest / 4).clamp(nanos(MIN_TICK), nanos(MAX_TICK)))
        }

        pub(super) fn has_work(&self, enabled: bool) -> bool {
            self.pool_tick(enabled).is_some() || !self.sweepers.is_empty()
        }

        /// What is due at `now`; their next rounds are scheduled.
        pub(super) fn take_due(&mut self, now: u64, enabled: bool) -> Due {
            let mut due = Due::default();
            if let Some(tick) = self.pool_tick(enabled) {
                if now >= self.next_pool_round {
                    due.pools = true;
                    self.next_pool_round = now.saturating_add(tick);
                }
            }
            for sweeper in &mut self.sweepers {
                if now >= sweeper.next_due {
                    due.sweepers.push(sweeper.panics.clone());
                    sweeper.next_due = now.saturating_add(sweeper.interval);
                }
            }
            due
        }

        /// Nanoseconds from `now` until the next round; `None` when nothing
        /// is scheduled.
        pub(super) fn until_next(&self, now: u64, enabled: bool) -> Option<u64> {
            let pools = self
                .pool_tick(enabled)
                .map(|_| self.next_pool_round.saturating_sub(now));
            let sweepers = self
                .sweepers
                .iter()
                .map(|sweeper| sweeper.next_due.saturating_sub(now))
                .min();
            pools.into_iter().chain(sweepers).min()
        }
    }

    /// Released items waiting to be dropped, and where to count a panic.
    struct Job {
        released: Box<dyn DropCounted>,
        sweeper_panics: Option<Arc<AtomicU64>>,
    }

    impl Job {
        /// Drops the items. Nothing unwinds out of here: a panic is counted
        /// and its payload dropped (or leaked, if that panics too).
        fn run(self) {
            let outcome = catch_unwind(AssertUnwindSafe(|| self.released.drop_counted()));
            let (Ok(Err(payload)) | Err(payload)) = outcome else {
                return;
            };
            if let Some(panics) = &self.sweeper_panics {
                panics.fetch_add(1, Ordering::Relaxed);
            }
            // MUTANT (verification/) `dead_cleanup_worker_stays`: the old
            // thread dropped the payload bare, died when that drop panicked,
            // and was never replaced.
            if cfg!(victim_pool_mutant = "dead_cleanup_worker_stays") {
                drop(payload);
            } else {
                registry::drop_payload(payload);
            }
        }
    }

    /// A running thread: its id, and its handle (joined only under Miri).
    struct Running {
        id: u64,
        handle: Option<JoinHandle<()>>,
    }

    /// The drop worker: a [`Running`] thread, and since when it has been
    /// dropping its current job (`None` while it waits for one).
    struct Worker {
        thread: Running,
        busy_since: Option<u64>,
    }

    /// Everything the cleanup thread and its drop worker share, under one
    /// lock that the fork handlers take and that is never held while
    /// waiting for another lock or running user code.
    pub(crate) struct ThreadState {
        /// Automatic cleanup on or off; `None` until the environment has
        /// been read.
        enabled: Option<bool>,
        schedule: Schedule,
        driver: Option<Running>,
        worker: Option<Worker>,
        /// Workers given up on while stuck in a drop, not yet back.
        stuck_workers: usize,
        jobs: VecDeque<Job>,
        next_thread_id: u64,
    }

    static STATE: Mutex<ThreadState> = Mutex::new(ThreadState {
        enabled: None,
        schedule: Schedule::new(),
        driver: None,
        worker: None,
        stuck_workers: 0,
        jobs: VecDeque::new(),
        next_thread_id: 0,
    });
    /// Wakes the cleanup thread: the schedule changed.
    static DRIVER_WAKE: Condvar = Condvar::new();
    /// Wakes the drop worker: jobs arrived, or it was replaced.
    static WORKER_WAKE: Condvar = Condvar::new();

    /// Locks the shared state (also for the fork handlers).
    pub(crate) fn lock_state() -> MutexGuard<'static, ThreadState> {
        STATE.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A thread to start once the lock is released.
    #[must_use]
    #[derive(Clone, Copy)]
    enum Start {
        Nothing,
        Driver(u64),
        Worker(u64),
    }

    impl ThreadState {
        fn enabled(&mut self) -> bool {
            *self.enabled.get_or_insert_with(|| {
                !std::env::var(AUTOMATIC_CLEANUP_ENV)
                    .is_ok_and(|v| matches!(v.trim(), "0" | "false" | "off"))
            })
        }

        fn has_work(&mut self) -> bool {
            let enabled = self.enabled();
            self.schedule.has_work(enabled)
        }

        fn fresh_id(&mut self) -> u64 {
            self.next_thread_id += 1;
            self.next_thread_id
        }

        /// The schedule changed: wake the cleanup thread, or start one.
        fn schedule_changed(&mut self) -> Start {
            if self.driver.is_some() {
                DRIVER_WAKE.notify_all();
                return Start::Nothing;
            }
            if !self.has_work() {
                return Start::Nothing;
            }
            let id = self.fresh_id();
            self.driver = Some(Running { id, handle: None });
            Start::Driver(id)
        }

        /// Jobs are waiting: wake the worker, start one if there is none,
        /// or replace it if it has been stuck in one drop too long.
        fn serve_jobs(&mut self, now: u64) -> Start {
            if self.jobs.is_empty() {
                return Start::Nothing;
            }
            if let Some(worker) = &self.worker {
                let stuck = worker
                    .busy_since
                    .is_some_and(|since| now.saturating_sub(since) >= nanos(STUCK_AFTER));
                if !stuck
                    || self.stuck_workers >= MAX_STUCK_WORKERS
                    || cfg!(victim_pool_mutant = "dead_cleanup_worker_stays")
                {
                    WORKER_WAKE.notify_all();
                    return Start::Nothing;
                }
                // Given up on: it leaves when its drop returns, if ever.
                self.stuck_workers += 1;
            }
            let id = self.fresh_id();
            self.worker = Some(Worker {
                thread: Running { id, handle: None },
                busy_since: None,
            });
            WORKER_WAKE.notify_all();
            Start::Worker(id)
        }
    }

    impl Start {
        /// Spawns the thread (the state's lock released). If the system
        /// has no thread to give, the slot is freed so that the next change
        /// tries again; `Err` says so.
        fn run(self) -> std::io::Result<()> {
            let (id, name, body): (u64, &str, fn(u64)) = match self {
                Start::Nothing => return Ok(()),
                Start::Driver(id) => (id, DRIVER_NAME, drive),
                Start::Worker(id) => (id, WORKER_NAME, work),
            };
            let spawned = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || body(id));
            let mut state = lock_state();
            let slot = match self {
                Start::Driver(_) => state.driver.as_mut(),
                _ => state.worker.as_mut().map(|worker| &mut worker.thread),
            }
            .filter(|running| running.id == id);
            match (spawned, slot) {
                (Ok(handle), Some(running)) => running.handle = Some(handle),
                // Already gone again (it found nothing to do, under Miri).
                (Ok(_), None) => {}
                (Err(error), _) => {
                    match self {
                        Start::Driver(_) => state.driver = None,
                        _ => state.worker = None,
                    }
                    return Err(error);
                }
            }
            Ok(())
        }
    }

    /// Runs on the cleanup thread's exit, unwinding included: the next
    /// change of the schedule starts a new one.
    struct DriverExit(u64);

    impl Drop for DriverExit {
        fn drop(&mut self) {
            let mut state = lock_state();
            if state
                .driver
                .as_ref()
                .is_some_and(|driver| driver.id == self.0)
            {
                state.driver = None;
            }
            WORKER_WAKE.notify_all();
        }
    }

    /// The cleanup thread.
    fn drive(me: u64) {
        let _exit = DriverExit(me);
        let mut state = lock_state();
        loop {
            if state.driver.as_ref().is_none_or(|driver| driver.id != me) {
                return;
            }
            let now = now();
            let enabled = state.enabled();
            let due = state.schedule.take_due(now, enabled);
            if !due.pools && due.sweepers.is_empty() {
                let start = state.serve_jobs(now);
                if !matches!(start, Start::Nothing) {
                    drop(state);
                    let _ = start.run();
                    state = lock_state();
                    continue;
                }
                let mut wait = state.schedule.until_next(now, enabled);
                if !state.jobs.is_empty() {
                    // Come back to see whether the worker got stuck.
                    wait = Some(wait.map_or(nanos(STUCK_AFTER), |w| w.min(nanos(STUCK_AFTER))));
                }
                state = match wait {
                    Some(wait) => {
                        DRIVER_WAKE
                            .wait_timeout(state, Duration::from_nanos(wait.max(1)))
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                    // Under Miri no thread may outlive the program.
                    None if cfg!(miri) => {
                        state.driver = None;
                        WORKER_WAKE.notify_all();
                        return;
                    }
                    // Nothing scheduled: no wake-up until something is.
                    None => DRIVER_WAKE
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner),
                };
                continue;
            }
            drop(state);
            let jobs = run_rounds(&due, now);
            state = lock_state();
            state.jobs.extend(jobs);
            let start = state.serve_jobs(now);
            if !matches!(start, Start::Nothing) {
                drop(state);
                let _ = start.run();
                state = lock_state();
            }
        }
    }

    /// The cleanup protocols of one wake-up (no user code; the cleanup
    /// thread's own lock is not held).
    fn run_rounds(due: &Due, now: u64) -> Vec<Job> {
        let pools = lock_registry().live();
        let mut jobs = Vec::new();
        if due.pools {
            for pool in &pools {
                if let Some(released) = registry::cleanup_if(pool, |pool| pool.cleanup_due(now)) {
                    jobs.push(Job {
                        released,
                        sweeper_panics: None,
                    });
                }
            }
        }
        for panics in &due.sweepers {
            for pool in &pools {
                if let Some(released) = registry::cleanup_if(pool, |_| true) {
                    jobs.push(Job {
                        released,
                        sweeper_panics: Some(panics.clone()),
                    });
                }
            }
        }
        // MUTANT (verification/) `cleanup_thread_drops_items`: the old
        // thread dropped what it released itself, so one blocking `T::drop`
        // stopped every pool's cleanup.
        if cfg!(victim_pool_mutant = "cleanup_thread_drops_items") {
            jobs.drain(..).for_each(Job::run);
        }
        jobs
    }

    /// Runs on the worker's exit (unwinding included).
    struct WorkerExit(u64);

    impl Drop for WorkerExit {
        fn drop(&mut self) {
            let mut state = lock_state();
            let current = state
                .worker
                .as_ref()
                .is_some_and(|worker| worker.thread.id == self.0);
            if current {
                if !cfg!(victim_pool_mutant = "dead_cleanup_worker_stays") {
                    state.worker = None;
                    DRIVER_WAKE.notify_all();
                }
            } else {
                state.stuck_workers = state.stuck_workers.saturating_sub(1);
            }
        }
    }

    /// The drop worker.
    fn work(me: u64) {
        let _exit = WorkerExit(me);
        let mut state = lock_state();
        loop {
            let job = state.jobs.pop_front();
            let busy_since = job.as_ref().map(|_| now());
            let Some(worker) = state.worker.as_mut().filter(|w| w.thread.id == me) else {
                // Replaced while stuck in a drop: the job goes back.
                if let Some(job) = job {
                    state.jobs.push_front(job);
                }
                return;
            };
            worker.busy_since = busy_since;
            let Some(job) = job else {
                if cfg!(miri) && state.driver.is_none() {
                    state.worker = None;
                    return;
                }
                state = WORKER_WAKE
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            drop(state);
            job.run();
            state = lock_state();
        }
    }

    /// Registers a pool that cleans every `interval`; starts the cleanup
    /// thread if the process has none. The pool holds the returned [`Watch`]
    /// and drops it with itself.
    pub(crate) fn watch(interval: Duration) -> Watch {
        if cfg!(miri) {
            return Watch(None);
        }
        let interval = nanos(interval);
        let mut state = lock_state();
        state.schedule.add_pool(interval);
        let start = state.schedule_changed();
        drop(state);
        // No thread to be had: the pool cleans when asked, and the next
        // change of the schedule tries again.
        let _ = start.run();
        Watch(Some(interval))
    }

    /// A pool's entry in the schedule, removed when dropped.
    #[derive(Debug)]
    pub(crate) struct Watch(Option<u64>);

    impl Drop for Watch {
        fn drop(&mut self) {
            if let Some(interval) = self.0 {
                let mut state = lock_state();
                state.schedule.remove_pool(interval);
                // The thread recomputes its tick (and may sleep for good).
                DRIVER_WAKE.notify_all();
            }
        }
    }

    /// Turns automatic cleanup (by interval) on or off for the whole
    /// process; see [`set_automatic_cleanup`](crate::set_automatic_cleanup).
    pub(crate) fn set_enabled(on: bool) {
        let mut state = lock_state();
        state.enabled = Some(on);
        let start = state.schedule_changed();
        drop(state);
        let _ = start.run();
    }

    /// Whether automatic cleanup is on.
    pub(crate) fn enabled() -> bool {
        lock_state().enabled()
    }

    /// Adds a `Sweeper`'s rounds to the schedule; its id and panic counter.
    pub(super) fn add_sweeper(interval: Duration) -> (u64, Arc<AtomicU64>) {
        let panics = Arc::new(AtomicU64::new(0));
        let mut state = lock_state();
        let id = state.fresh_id();
        let interval = nanos(interval);
        state.schedule.sweepers.push(SweeperEntry {
            id,
            interval,
            next_due: now().saturating_add(interval),
            panics: panics.clone(),
        });
        let start = state.schedule_changed();
        drop(state);
        if let Err(error) = start.run() {
            remove_sweeper(id);
            panic!("Sweeper::spawn: failed to spawn the cleanup thread: {error}");
        }
        (id, panics)
    }

    /// Removes a `Sweeper`'s rounds. Under Miri, when nothing is left to
    /// schedule, waits for the cleanup thread and the worker to exit.
    pub(super) fn remove_sweeper(id: u64) {
        let mut state = lock_state();
        state.schedule.sweepers.retain(|sweeper| sweeper.id != id);
        DRIVER_WAKE.notify_all();
        if !cfg!(miri) || state.has_work() {
            return;
        }
        let driver = state
            .driver
            .as_mut()
            .and_then(|driver| driver.handle.take());
        drop(state);
        if let Some(driver) = driver {
            let _ = driver.join();
        }
        let worker = lock_state()
            .worker
            .as_mut()
            .and_then(|worker| worker.thread.handle.take());
        WORKER_WAKE.notify_all();
        if let Some(worker) = worker {
            let _ = worker.join();
        }
    }

    /// In a `fork` child (its handler, holding the lock): the cleanup
    /// thread and the workers stayed in the parent. Their handles are
    /// forgotten (they name threads that do not exist here); the jobs stay
    /// and are dropped by the child's own worker, once it has one.
    #[cfg(unix)]
    pub(crate) fn forget_threads_after_fork(state: &mut ThreadState) {
        if let Some(driver) = state.driver.take() {
            core::mem::forget(driver.handle);
        }
        if let Some(worker) = state.worker.take() {
            core::mem::forget(worker.thread.handle);
        }
        state.stuck_workers = 0;
    }
}

#[cfg(any(loom, shuttle))]
mod imp {
    use core::time::Duration;

    pub(crate) fn now() -> u64 {
        0
    }

    /// No cleanup thread under the model checkers.
    #[derive(Debug)]
    pub(crate) struct Watch;

    pub(crate) fn watch(_interval: Duration) -> Watch {
        Watch
    }

    pub(crate) fn set_enabled(_on: bool) {}

    pub(crate) fn enabled() -> bool {
        false
    }
}

#[cfg(all(unix, not(any(loom, shuttle, miri))))]
pub(crate) use imp::{forget_threads_after_fork, lock_state, ThreadState};
pub(crate) use imp::{now, watch, Watch};

/// Turns automatic cleanup on or off for the whole process (the default is
/// on, unless the [`AUTOMATIC_CLEANUP_ENV`] variable says `0`, `false` or
/// `off`).
///
/// Off, no pool is cleaned by its interval: items stay until
/// [`Pool::cleanup`](crate::Pool::cleanup), [`cleanup_all`](crate::cleanup_all)
/// or a [`Sweeper`] releases them, as with
/// [`PoolBuilder::manual_cleanup`](crate::PoolBuilder::manual_cleanup) on
/// every pool. `Sweeper`s keep running: they are explicit. Turning it back
/// on resumes every pool's schedule.
pub fn set_automatic_cleanup(on: bool) {
    imp::set_enabled(on);
}

/// Whether automatic cleanup is on for the process (see
/// [`set_automatic_cleanup`]). Always false under the model checkers.
pub fn automatic_cleanup() -> bool {
    imp::enabled()
}

/// Runs [`cleanup_all`](crate::cleanup_all) every `interval`, on the
/// process's cleanup thread, until dropped.
///
/// A `T::drop` that panics or blocks during a round never stops the
/// sweeper nor delays another pool: released items are dropped by a
/// separate worker, a panic is printed by the panic hook as usual, counted
/// in the pool's [`PoolStats::cleanup_panics`](crate::PoolStats::cleanup_panics)
/// and in [`Sweeper::panics`], and the next round runs on time.
///
/// ```
/// use std::time::Duration;
/// let sweeper = victim_pool::Sweeper::spawn(Duration::from_millis(100));
/// // ... pools are cleaned every 100 ms, like Go's GC would ...
/// drop(sweeper);
/// ```
#[cfg(not(any(loom, shuttle)))]
#[derive(Debug)]
#[must_use = "dropping the Sweeper stops it at once"]
pub struct Sweeper {
    id: u64,
    panics: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

#[cfg(not(any(loom, shuttle)))]
impl Sweeper {
    /// Adds the sweeper's rounds to the cleanup thread (started if the
    /// process has none).
    ///
    /// # Panics
    ///
    /// If `interval` is zero (that would spin a core), or there is no
    /// cleanup thread and none can be spawned.
    pub fn spawn(interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "Sweeper::spawn: interval must be non-zero"
        );
        let (id, panics) = imp::add_sweeper(interval);
        Self { id, panics }
    }

    /// Rounds so far in which dropping a released item panicked.
    pub fn panics(&self) -> u64 {
        self.panics.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(not(any(loom, shuttle)))]
impl Drop for Sweeper {
    /// No round of this sweeper starts after this; one in progress
    /// finishes on the cleanup thread.
    fn drop(&mut self) {
        imp::remove_sweeper(self.id);
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::imp::Schedule;
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_tick_follows_the_pools_alive_now() {
        let mut schedule = Schedule::new();
        assert_eq!(schedule.pool_tick(true), None);
        assert!(!schedule.has_work(true));
        schedule.add_pool(5_000 * MS);
        assert_eq!(schedule.pool_tick(true), Some(1_000 * MS));
        schedule.add_pool(MS);
        schedule.add_pool(MS);
        assert_eq!(schedule.pool_tick(true), Some(MS));
        schedule.remove_pool(MS);
        assert_eq!(schedule.pool_tick(true), Some(MS), "one 1 ms pool is left");
        schedule.remove_pool(MS);
        assert_eq!(
            schedule.pool_tick(true),
            Some(1_000 * MS),
            "the 1 ms pools are gone: back to the 5 s pool's tick"
        );
        assert_eq!(schedule.pool_tick(false), None, "automatic cleanup off");
        schedule.remove_pool(5_000 * MS);
        assert_eq!(schedule.pool_tick(true), None);
        assert!(!schedule.has_work(true), "no pool: no wake-up at all");
        assert_eq!(schedule.until_next(0, true), None);
    }

    #[test]
    fn rounds_come_due_once_per_tick() {
        let mut schedule = Schedule::new();
        schedule.add_pool(40 * MS);
        assert!(schedule.take_due(0, true).pools);
        assert!(!schedule.take_due(5 * MS, true).pools);
        assert_eq!(schedule.until_next(5 * MS, true), Some(5 * MS));
        assert!(schedule.take_due(10 * MS, true).pools);
        assert!(!schedule.take_due(10 * MS, false).pools);
    }

    #[test]
    fn thread_names_fit_what_linux_keeps() {
        for name in [DRIVER_NAME, WORKER_NAME] {
            assert!(name.len() <= 15, "{name:?} is cut to 15 bytes");
        }
    }
}
