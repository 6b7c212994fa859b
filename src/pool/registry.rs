//! Every live pool (Go's `allPools`), for [`cleanup_all`].

use std::panic::resume_unwind;
use std::sync::Weak;

use super::shared::PoolShared;
use super::slot::assert_outside_operation;
use crate::sync::{global, lock, Mutex, MutexGuard};
use crate::thread_id;

/// Type-erased handle for [`cleanup_all`] and the automatic cleanup.
pub(crate) trait Sweep: Send + Sync {
    /// One cleanup; what it released is handed back to be dropped once the
    /// caller has let go of the pool.
    fn cleanup_detached(&self) -> Box<dyn DropCounted>;
    /// True when the pool cleans automatically and its interval has passed
    /// since its last cleanup (`now` from `auto_cleanup::now`).
    #[cfg_attr(
        any(loom, shuttle, miri),
        allow(dead_code, reason = "no automatic cleanup under the checkers")
    )]
    fn cleanup_due(&self, now: u64) -> bool;
}

/// A type-erased [`Released`](super::Released).
pub(crate) trait DropCounted: Send {
    /// Drops the items; a panicking `T::drop` is counted in its pool's
    /// stats and returned.
    fn drop_counted(self: Box<Self>) -> std::thread::Result<()>;
}

impl<T: Send> DropCounted for super::Released<T> {
    fn drop_counted(self: Box<Self>) -> std::thread::Result<()> {
        (*self).drop_counted()
    }
}

impl<T: Send + 'static> Sweep for PoolShared<T> {
    fn cleanup_detached(&self) -> Box<dyn DropCounted> {
        Box::new(self.cleanup())
    }

    fn cleanup_due(&self, now: u64) -> bool {
        self.hooks.cleanup_interval.is_some_and(|interval| {
            let last = self.last_cleanup.load(crate::sync::Ordering::Relaxed);
            now.saturating_sub(last) >= interval.as_nanos() as u64
        })
    }
}

/// The registered pools, as weak handles.
pub(crate) struct Registry {
    pools: Vec<Weak<dyn Sweep>>,
    /// Dropped pools are pruned when `pools` reaches this length, which is
    /// then reset to twice the live count: a program that creates and
    /// drops pools without ever cleaning keeps the registry within twice
    /// its live size, at amortised O(1) per pool.
    prune_at: usize,
}

impl Registry {
    pub(super) const MIN_PRUNE: usize = 16;

    const fn new() -> Self {
        Self {
            pools: Vec::new(),
            prune_at: Self::MIN_PRUNE,
        }
    }

    fn prune(&mut self) {
        self.pools.retain(|pool| pool.strong_count() > 0);
        self.prune_at = (2 * self.pools.len()).max(Self::MIN_PRUNE);
    }

    pub(super) fn register(&mut self, pool: Weak<dyn Sweep>) {
        if self.pools.len() >= self.prune_at {
            self.prune();
        }
        self.pools.push(pool);
    }

    /// The registered pools, dropped ones pruned. Weak: the caller holds
    /// each pool only while it cleans it (see [`sweep`]).
    pub(crate) fn live(&mut self) -> Vec<Weak<dyn Sweep>> {
        self.prune();
        self.pools.clone()
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.pools.len()
    }
}

/// Cleans `pool` if it still lives and `due` says so. The pool is held only
/// across the cleanup's protocol, which runs no user code; the released
/// items are dropped after letting go of it. So a `Pool` dropped meanwhile
/// on another thread (its `Drop` waits for such holders) drops its items
/// there and then, and a `T::drop` here that drops a pool cannot wait for
/// this very thread.
pub(crate) fn sweep(
    pool: &Weak<dyn Sweep>,
    due: impl FnOnce(&dyn Sweep) -> bool,
) -> std::thread::Result<()> {
    let Some(pool) = pool.upgrade() else {
        return Ok(());
    };
    if !due(&*pool) {
        return Ok(());
    }
    let released = pool.cleanup_detached();
    drop(pool);
    released.drop_counted()
}

global! {
    /// The process-wide registry of pools, for `cleanup_all`.
    static ALL_POOLS: Mutex<Registry> = Mutex::new(Registry::new());
}

/// Locks the registry (pool construction, `cleanup_all`, the fork
/// handlers). No user code runs under it.
pub(crate) fn lock_registry() -> MutexGuard<'static, Registry> {
    lock(&ALL_POOLS)
}

/// Returns the calling thread's slot id to the process-wide allocator now,
/// instead of when the thread exits, so a new thread can take it over.
///
/// The items in the slot stay where they are (stealable, released by
/// cleanup, or inherited by the slot's next owner), exactly as at thread
/// exit. If the thread uses a pool again it leases an id afresh. A live
/// [`LocalHandle`](crate::LocalHandle) keeps its id reserved until it is
/// dropped. Useful for a thread about to sleep for a long time, and for
/// model checkers whose thread-local destructors run after the model's
/// globals are gone. Safe to call from anywhere, including a `T::drop`
/// or New: user code never runs inside a pool operation, so an operation's
/// slot cannot change hands under it.
pub fn release_thread_slot() {
    assert_outside_operation("release_thread_slot");
    thread_id::release_current();
}

/// One cleanup cycle for every live pool (Go's `poolCleanup` at GC): each
/// pool's primary generation becomes its victim and the old victim is
/// dropped.
///
/// # Panics
///
/// If dropping a released item panics. Every pool is still cleaned and
/// every other released item still dropped first; the first panic is then
/// resumed, and each pool where one happened counts it in
/// [`PoolStats::cleanup_panics`](crate::PoolStats::cleanup_panics).
pub fn cleanup_all() {
    assert_outside_operation("cleanup_all");
    let pools = lock_registry().live();
    let mut first_panic = None;
    // Cleaned outside the registry lock: dropped items may create or drop
    // pools.
    for pool in pools {
        if let Err(panic) = sweep(&pool, |_| true) {
            first_panic.get_or_insert(panic);
            // MUTANT (verification/) `cleanup_panic_stops_sweep`: the old
            // code let the panic skip the remaining pools.
            if cfg!(victim_pool_mutant = "cleanup_panic_stops_sweep") {
                break;
            }
        }
    }
    if let Some(panic) = first_panic {
        resume_unwind(panic);
    }
}
