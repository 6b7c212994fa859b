//! `fork(2)`: what a child process inherits from the pools, and how it
//! goes on (DESIGN.md §6.5).
//!
//! Only the forking thread exists in the child. Two things of the parent's
//! other threads survive there: the locks they held, and the operations
//! they were inside. So:
//!
//! - a `pthread_atfork` *prepare* handler takes the id allocator, the pool
//!   registry and the cleanup gate (every cleanup holds it for reading
//!   across its protocol) before the fork and releases them on both sides
//!   after it: no pool lock is held by a thread that is gone, and no
//!   cleanup is half done in the child;
//! - the *child* handler records which thread ids belonged to threads that
//!   did not survive (every id leased at the fork but the forking thread's)
//!   and starts a new fork generation. Cleanup then knows that those slots
//!   will never run another operation: a slot that was idle is treated like
//!   an exited thread's; a slot that was inside an operation is
//!   quarantined (its owner may have stopped halfway through a write to its
//!   private fields or its chain, so nothing of it is read, moved or freed
//!   again), and its pin no longer holds back batches retired in the child.
//!
//! Under the model checkers, Miri and on non-Unix targets there is no fork:
//! the gate is a no-op and no thread is ever lost.

/// Thread ids whose threads did not survive the forks this process came out
/// of (sorted; empty if it never forked).
#[derive(Debug, Default)]
pub(crate) struct LostThreads(Vec<usize>);

impl LostThreads {
    pub(crate) fn contains(&self, id: usize) -> bool {
        !self.0.is_empty() && self.0.binary_search(&id).is_ok()
    }
}

#[cfg(all(unix, not(any(loom, shuttle, miri))))]
mod imp {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{
        Mutex, MutexGuard, Once, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
    };

    use super::LostThreads;
    use crate::pool::{lock_registry, Registry};
    use crate::thread_id::{self, IdAllocator};

    /// Held for reading by every cleanup's protocol, for writing across a
    /// fork.
    static GATE: RwLock<()> = RwLock::new(());
    /// Forks this process came out of. Written by the child handler (the
    /// only thread of the child then); read Relaxed by cleanups, which
    /// run after the handler in the same thread or in threads spawned later.
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    /// Written by the child handler, read by cleanups (after the gate).
    static LOST: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    static INSTALL: Once = Once::new();

    /// What the forking thread holds across the fork.
    struct Held {
        allocator: MutexGuard<'static, IdAllocator>,
        _registry: MutexGuard<'static, Registry>,
        _gate: RwLockWriteGuard<'static, ()>,
    }

    std::thread_local! {
        static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
    }

    /// Installs the fork handlers (once per process).
    pub(crate) fn install() {
        INSTALL.call_once(|| {
            // SAFETY: the handlers are `extern "C"` functions with no
            // arguments that live for the whole process.
            let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
            // ENOMEM: forks then keep the behaviour without handlers
            // (documented); nothing unsound follows from it in the parent.
            debug_assert_eq!(rc, 0, "pthread_atfork failed");
        });
    }

    extern "C" fn prepare() {
        // Order: the gate waits for in-flight cleanups (none of which waits
        // for the registry or the allocator), then the two global mutexes,
        // which no thread holds while waiting for anything else.
        let gate = GATE.write().unwrap_or_else(PoisonError::into_inner);
        let registry = lock_registry();
        let allocator = thread_id::lock_allocator();
        let _ = HELD.try_with(|held| {
            *held.borrow_mut() = Some(Held {
                allocator,
                _registry: registry,
                _gate: gate,
            });
        });
    }

    extern "C" fn parent() {
        let _ = HELD.try_with(|held| held.borrow_mut().take());
    }

    extern "C" fn child() {
        let Ok(Some(held)) = HELD.try_with(|held| held.borrow_mut().take()) else {
            return;
        };
        let lost = thread_id::leased_by_other_threads(&held.allocator);
        // No cleanup was in flight at the fork (the gate), so nobody holds
        // `LOST`.
        *LOST.lock().unwrap_or_else(PoisonError::into_inner) = lost;
        GENERATION.fetch_add(1, Ordering::Relaxed);
        crate::auto_cleanup::forget_thread_after_fork();
        drop(held);
    }

    pub(crate) fn cleanup_gate() -> RwLockReadGuard<'static, ()> {
        GATE.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn generation() -> u64 {
        GENERATION.load(Ordering::Relaxed)
    }

    pub(crate) fn lost_threads() -> LostThreads {
        if generation() == 0 {
            return LostThreads::default();
        }
        LostThreads(LOST.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

#[cfg(not(all(unix, not(any(loom, shuttle, miri)))))]
mod imp {
    use super::LostThreads;

    pub(crate) fn install() {}

    /// Nothing to hold where there is no fork.
    pub(crate) struct NoGate;

    pub(crate) fn cleanup_gate() -> NoGate {
        NoGate
    }

    pub(crate) fn generation() -> u64 {
        0
    }

    pub(crate) fn lost_threads() -> LostThreads {
        LostThreads::default()
    }
}

pub(crate) use imp::{cleanup_gate, generation, install, lost_threads};
