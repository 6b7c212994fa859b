//! Every live pool (Go's `allPools`), for `cleanup_all` and the cleanup
//! thread.

use std::sync::Weak;

use super::fork::{self, Gate};
use crate::sync::{global, lock, Mutex, MutexGuard};

/// A pool as the process-wide machinery sees it (implemented by the pool).
pub(crate) trait Sweep: Send + Sync {
    /// One cleanup's protocol, run by a caller that holds the fork gate;
    /// what it released is handed back, to be dropped once the caller has
    /// let go of the pool and of the gate.
    fn cleanup_under_gate(&self, gate: &Gate) -> Box<dyn DropCounted>;
    /// True when the pool cleans automatically and its interval has passed
    /// since its last cleanup (`now` from `cleanup_thread::now`).
    #[cfg_attr(
        any(loom, shuttle),
        allow(dead_code, reason = "no cleanup thread under the checkers")
    )]
    fn cleanup_due(&self, now: u64) -> bool;
}

/// What a cleanup released, type-erased.
pub(crate) trait DropCounted: Send {
    /// Drops the items; a panicking `T::drop` is counted in its pool's
    /// stats and returned.
    fn drop_counted(self: Box<Self>) -> std::thread::Result<()>;
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
    pub(crate) const MIN_PRUNE: usize = 16;

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

    pub(crate) fn register(&mut self, pool: Weak<dyn Sweep>) {
        if self.pools.len() >= self.prune_at {
            self.prune();
        }
        self.pools.push(pool);
    }

    /// The registered pools, dropped ones pruned. Weak: the caller holds
    /// each pool only while it cleans it (see [`cleanup_if`]).
    pub(crate) fn live(&mut self) -> Vec<Weak<dyn Sweep>> {
        self.prune();
        self.pools.clone()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pools.len()
    }
}

/// Runs one cleanup's protocol on `pool` if it still lives and `due` says
/// so, and hands back what it released, to be dropped by the caller.
///
/// The pool is held only across the protocol, which runs no user code, and
/// only under the fork gate: a `Pool` dropped meanwhile on another thread
/// (its `Drop` waits for such holders) drops its items there and then, a
/// `T::drop` run by the caller that drops a pool cannot wait for its own
/// thread, and a `fork` never copies a strong reference that no thread of
/// the child would give back.
pub(crate) fn cleanup_if(
    pool: &Weak<dyn Sweep>,
    due: impl FnOnce(&dyn Sweep) -> bool,
) -> Option<Box<dyn DropCounted>> {
    // MUTANT (verification/) `sweep_upgrades_outside_gate`: the old code
    // took the pool before the gate and let go of it after.
    #[cfg(victim_pool_mutant = "sweep_upgrades_outside_gate")]
    let pool = pool.upgrade()?;
    let gate = fork::gate();
    #[cfg(not(victim_pool_mutant = "sweep_upgrades_outside_gate"))]
    let pool = pool.upgrade()?;
    // Declared after the gate, so dropped before it: the pool first.
    due(&*pool).then(|| pool.cleanup_under_gate(&gate))
}

/// Drops a caught panic's payload, whose own `Drop` may panic too: then the
/// new payload is dropped the same way, until one drops cleanly. (A chain
/// that never ends is user code that never returns, as a `T::drop` that
/// blocks: it holds up the thread that runs it and nothing else.)
pub(crate) fn drop_payload(mut payload: Box<dyn core::any::Any + Send>) {
    while let Err(next) = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| drop(payload)))
    {
        payload = next;
    }
}

global! {
    /// The process-wide registry of pools.
    static ALL_POOLS: Mutex<Registry> = Mutex::new(Registry::new());
}

/// Locks the registry (pool construction, `cleanup_all`, the cleanup
/// thread, the fork handlers). No user code runs under it, and no other
/// lock is taken under it.
pub(crate) fn lock_registry() -> MutexGuard<'static, Registry> {
    lock(&ALL_POOLS)
}
