//! A background thread that runs [`cleanup_all`] on an interval: the
//! stand-in for Go's GC cadence.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use crate::pool::cleanup_all;
use crate::sync::thread;

/// Runs [`cleanup_all`](crate::cleanup_all) every `interval` on a
/// background thread until dropped (dropping stops and joins it).
///
/// A `T::drop` that panics during a round neither stops the sweeper nor
/// keeps the other pools of that round from being cleaned: the panic is
/// printed by the panic hook as usual, counted in the pool's
/// [`PoolStats::cleanup_panics`](crate::PoolStats::cleanup_panics) and in
/// [`Sweeper::panics`], and the next round runs on time.
///
/// ```
/// use std::time::Duration;
/// let sweeper = victim_pool::Sweeper::spawn(Duration::from_millis(100));
/// // ... pools are cleaned every 100 ms, like Go's GC would ...
/// drop(sweeper);
/// ```
#[derive(Debug)]
#[must_use = "dropping the Sweeper stops it at once"]
pub struct Sweeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    /// Rounds in which a released item's drop panicked.
    panics: Arc<AtomicU64>,
    /// The process that spawned the thread: a child of `fork` has no such
    /// thread to join.
    spawned_in: u32,
}

impl Sweeper {
    /// Starts the sweeper thread.
    ///
    /// # Panics
    ///
    /// If `interval` is zero (that would spin a core), or the thread cannot
    /// be spawned.
    pub fn spawn(interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "Sweeper::spawn: interval must be non-zero"
        );
        let (stop, stopped) = mpsc::channel::<()>();
        let panics = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&panics);
        let thread = thread::Builder::new()
            .name("victim-pool-sweeper".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => Self::round(&counted),
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .expect("failed to spawn the sweeper thread");
        Self {
            stop: Some(stop),
            thread: Some(thread),
            panics,
            spawned_in: std::process::id(),
        }
    }

    /// One `cleanup_all`; a panic is counted, not propagated.
    fn round(panics: &AtomicU64) {
        // MUTANT (verification/) `cleanup_panic_stops_sweep`: the old
        // sweeper died with the first panic.
        if cfg!(victim_pool_mutant = "cleanup_panic_stops_sweep") {
            cleanup_all();
            return;
        }
        if catch_unwind(AssertUnwindSafe(cleanup_all)).is_err() {
            panics.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rounds so far in which dropping a released item panicked.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        drop(self.stop.take());
        if std::process::id() != self.spawned_in {
            // A child of `fork`: the thread stayed in the parent.
            core::mem::forget(self.thread.take());
            return;
        }
        if let Some(thread) = self.thread.take() {
            // A panic in the sweeper came from a `T::drop`; it was already
            // reported on that thread.
            let _ = thread.join();
        }
    }
}
