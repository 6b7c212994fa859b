//! The pool's side of the process-wide machinery: how the registry and the
//! cleanup thread see a pool, and the public functions that act on every
//! pool or on the calling thread's slot in every pool.

use std::panic::resume_unwind;

use super::shared::PoolShared;
use super::slot::assert_outside_operation;
use crate::process::fork::Gate;
use crate::process::registry::{self, lock_registry, DropCounted, Sweep};
use crate::thread_id;

impl<T: Send> DropCounted for super::Released<T> {
    fn drop_counted(self: Box<Self>) -> std::thread::Result<()> {
        (*self).drop_counted()
    }
}

impl<T: Send + 'static> Sweep for PoolShared<T> {
    fn cleanup_under_gate(&self, gate: &Gate) -> Box<dyn DropCounted> {
        Box::new(self.cleanup(gate))
    }

    fn cleanup_due(&self, now: u64) -> bool {
        self.hooks.cleanup_interval.is_some_and(|interval| {
            let last = self.last_cleanup.load(crate::sync::Ordering::Relaxed);
            now.saturating_sub(last) >= interval.as_nanos() as u64
        })
    }
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
        let Some(released) = registry::cleanup_if(&pool, |_| true) else {
            continue;
        };
        if let Err(panic) = released.drop_counted() {
            match first_panic {
                None => first_panic = Some(panic),
                // Its own drop may panic: that must not skip the others.
                Some(_) => registry::drop_payload(panic),
            }
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
