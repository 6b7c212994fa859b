//! Automatic cleanup: the stand-in for Go's GC cadence. A pool built with a
//! cleanup interval (the default) is cleaned once that interval has passed
//! since its last cleanup, by one background thread shared by every pool of
//! the process. The thread starts with the first such pool and sleeps
//! between rounds (a round wakes at most every second and walks the pool
//! registry); it runs no pool's cleanup that is not due.
//!
//! Not under the model checkers or Miri (no background thread there: their
//! pools clean only when asked). In a child of `fork` the thread stayed in
//! the parent; the child starts its own with the next pool it builds.

use core::time::Duration;

/// How often a pool is cleaned when its builder does not say
/// ([`PoolBuilder::cleanup_interval`](crate::PoolBuilder::cleanup_interval)).
/// An item idle in a pool is dropped after two intervals, 5 to 10 seconds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

#[cfg(not(any(loom, shuttle, miri)))]
mod imp {
    use core::time::Duration;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::Instant;

    use crate::pool::{lock_registry, sweep};

    /// The shortest interval of any pool built so far (nanoseconds); sets
    /// the sweeper's tick.
    static SHORTEST: AtomicU64 = AtomicU64::new(u64::MAX);
    /// True once the sweeper thread of this process has been started.
    static STARTED: AtomicBool = AtomicBool::new(false);

    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    /// Nanoseconds since the first call in this process.
    pub(crate) fn now() -> u64 {
        epoch().elapsed().as_nanos() as u64
    }

    /// Registers a pool that cleans every `interval`; starts the sweeper
    /// thread if this process has none.
    pub(crate) fn watch(interval: Duration) {
        SHORTEST.fetch_min(interval.as_nanos() as u64, Ordering::Relaxed);
        if STARTED.swap(true, Ordering::AcqRel) {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("victim-pool-cleanup".into())
            .spawn(sweep_forever);
        if spawned.is_err() {
            // No thread to be had: pools clean when asked, and the next
            // pool built tries again.
            STARTED.store(false, Ordering::Release);
        }
    }

    /// The child of a `fork` has no sweeper thread.
    #[cfg(unix)]
    pub(crate) fn forget_thread_after_fork() {
        STARTED.store(false, Ordering::Relaxed);
    }

    fn sweep_forever() {
        loop {
            let shortest = Duration::from_nanos(SHORTEST.load(Ordering::Relaxed));
            std::thread::sleep(
                (shortest / 4).clamp(Duration::from_millis(1), Duration::from_secs(1)),
            );
            let now = now();
            let pools = lock_registry().live();
            for pool in &pools {
                // A panicking `T::drop` was printed by the panic hook and is
                // counted in that pool's stats; the round goes on.
                let _ = sweep(pool, |pool| pool.cleanup_due(now));
            }
        }
    }
}

#[cfg(any(loom, shuttle, miri))]
mod imp {
    use core::time::Duration;

    pub(crate) fn now() -> u64 {
        0
    }

    pub(crate) fn watch(_interval: Duration) {}
}

#[cfg(all(unix, not(any(loom, shuttle, miri))))]
pub(crate) use imp::forget_thread_after_fork;
pub(crate) use imp::{now, watch};
