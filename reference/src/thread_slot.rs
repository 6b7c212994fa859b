//! Which slot a thread acts as: the specification of `victim_pool`'s thread
//! ids (the stand-in for Go's P id).
//!
//! - A thread gets a slot the first time it uses any reference pool, and
//!   keeps it until it exits. Live threads never share a slot.
//! - The slot handed out is the *smallest* one no live thread holds, so
//!   slots stay dense and a thread that starts after another exited reuses
//!   its slot — and finds whatever that thread left in it.
//! - While thread-locals are being torn down, an operation leases a slot just
//!   for itself.
//!
//! The reference and the lock-free crate each keep their own allocator, so
//! the same thread may act as different slot numbers in the two; the
//! differential tests replay a slot picked by one on the other explicitly.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// Slots handed out and not yet returned.
static TAKEN: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

/// A slot held by one thread (or one operation); returned when dropped.
struct Lease {
    slot: usize,
}

impl Lease {
    fn acquire() -> Self {
        let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
        // The smallest slot not taken.
        let slot = (0..)
            .find(|slot| !taken.contains(slot))
            .expect("fewer than usize::MAX threads");
        taken.insert(slot);
        Self { slot }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        TAKEN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.slot);
    }
}

thread_local! {
    /// This thread's lease, taken on first use, returned at thread exit.
    static LEASE: Lease = Lease::acquire();
}

/// The slot the calling thread acts as in every reference pool.
///
/// During thread-local teardown (the thread's lease may already be gone)
/// this leases a fresh slot and returns it at once, so the answer is only
/// meaningful on a live thread.
pub fn current_slot() -> usize {
    with_current(|slot| slot)
}

/// Runs `f` with the calling thread's slot; during thread-local teardown,
/// with a slot leased for the duration of `f` alone.
pub(crate) fn with_current<R>(f: impl FnOnce(usize) -> R) -> R {
    match LEASE.try_with(|lease| lease.slot) {
        Ok(slot) => f(slot),
        Err(_) => {
            let temporary = Lease::acquire();
            f(temporary.slot)
        }
    }
}
