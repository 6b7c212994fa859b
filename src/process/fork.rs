//! `fork(2)`: what a child process inherits from the pools, and how it
//! goes on (DESIGN.md §6.5).
//!
//! Only the forking thread exists in the child. Two things of the parent's
//! other threads survive there: the locks they held, and the operations
//! they were inside. So:
//!
//! - a `pthread_atfork` *prepare* handler takes the fork gate for writing
//!   (every per-pool lock and every registry sweep is taken only under the
//!   gate for reading), then the pool registry, the thread-id allocator and
//!   the cleanup thread's state, and releases them on both sides after the
//!   fork: no lock of this crate is held in the child by a thread that is
//!   gone, no cleanup is half done there, and no sweep holds a pool;
//! - the *child* handler records which thread ids belonged to threads that
//!   did not survive: every id leased at the fork by a thread other than
//!   the forking one (the allocator records each id's holder, so an id the
//!   forking thread keeps through a `LocalHandle` is its own too). Cleanup
//!   then knows that those slots will never run another operation: a slot
//!   that was idle is treated like an exited thread's; a slot that was
//!   inside an operation is quarantined (its owner may have stopped halfway
//!   through a write to its private fields or its chain, so nothing of it
//!   is read, moved or freed again), and its pin no longer holds back
//!   batches retired in the child.
//!
//! Where the child cannot tell whether an id's holder survived (a leaked
//! `LocalHandle` of a thread that has exited, whose holder token a live
//! thread may reuse), it counts the id as surviving: that can only keep
//! memory, never free it early.
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
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

    use super::LostThreads;
    use crate::process::cleanup_thread::{self, ThreadState};
    use crate::process::registry::{self, Registry};
    use crate::thread_id::{self, IdAllocator};

    /// Held for reading by every cleanup's protocol, every other use of a
    /// pool's cleanup lock and every registry sweep; for writing across a
    /// fork.
    static GATE: RwLock<()> = RwLock::new(());
    /// Forks this process came out of. Written by the child handler (the
    /// only thread of the child then); read Relaxed by cleanups, which
    /// run after the handler in the same thread or in threads spawned later.
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    /// Written by the child handler, read by cleanups (after the gate).
    static LOST: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    /// `0`: handlers not installed; `INSTALLED`; else the pid of the process
    /// in which a thread is installing them. Not a `Once`: a child forked
    /// while another thread was inside `Once::call_once` would wait for it
    /// for ever.
    static INSTALL: AtomicU32 = AtomicU32::new(0);
    const INSTALLED: u32 = u32::MAX;

    /// Proof that the caller holds the fork gate for reading.
    pub(crate) struct Gate(
        #[allow(dead_code, reason = "held for its drop")] RwLockReadGuard<'static, ()>,
    );

    /// What the forking thread holds across the fork.
    struct Held {
        allocator: MutexGuard<'static, IdAllocator>,
        cleanup_thread: MutexGuard<'static, ThreadState>,
        _registry: MutexGuard<'static, Registry>,
        _gate: RwLockWriteGuard<'static, ()>,
    }

    std::thread_local! {
        static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
    }

    /// Installs the fork handlers (once per process). Never waits for
    /// another thread, so a child forked in the middle of an installation
    /// does not hang here.
    pub(crate) fn install() {
        let pid = std::process::id();
        loop {
            match INSTALL.load(Ordering::Acquire) {
                INSTALLED => return,
                // Another thread of this process is installing: `Acquire`
                // above pairs with its `Release` store of `INSTALLED`.
                installing if installing == pid => std::thread::yield_now(),
                // Nobody, or a thread of the parent whose registration had
                // not started at the fork (had it, the child handler would
                // have marked the handlers installed): ours to do.
                other => {
                    if INSTALL
                        .compare_exchange(other, pid, Ordering::Acquire, Ordering::Acquire)
                        .is_ok()
                    {
                        // SAFETY: the handlers are `extern "C"` functions
                        // with no arguments that live for the whole process.
                        let rc = unsafe {
                            libc::pthread_atfork(Some(prepare), Some(parent), Some(child))
                        };
                        // ENOMEM: forks then behave as without handlers
                        // (DESIGN.md §6.5); nothing unsound follows from it
                        // in the parent.
                        debug_assert_eq!(rc, 0, "pthread_atfork failed");
                        INSTALL.store(INSTALLED, Ordering::Release);
                        return;
                    }
                }
            }
        }
    }

    extern "C" fn prepare() {
        // Order: the gate waits for in-flight cleanups and sweeps (none of
        // which waits for the registry, the allocator or the cleanup
        // thread's state while holding a per-pool lock), then the three
        // global mutexes, which no thread holds while waiting for anything.
        let gate = GATE.write().unwrap_or_else(PoisonError::into_inner);
        let registry = registry::lock_registry();
        let allocator = thread_id::lock_allocator();
        let cleanup_thread = cleanup_thread::lock_state();
        let _ = HELD.try_with(|held| {
            *held.borrow_mut() = Some(Held {
                allocator,
                cleanup_thread,
                _registry: registry,
                _gate: gate,
            });
        });
    }

    extern "C" fn parent() {
        let _ = HELD.try_with(|held| held.borrow_mut().take());
    }

    extern "C" fn child() {
        // The handlers ran, so they are installed in the child too.
        INSTALL.store(INSTALLED, Ordering::Relaxed);
        let Ok(Some(mut held)) = HELD.try_with(|held| held.borrow_mut().take()) else {
            return;
        };
        // MUTANT (verification/) `fork_loses_handle_ids`: the old code
        // counted every id but the forking thread's current one as lost,
        // including ids it kept through a `LocalHandle`.
        #[cfg(not(victim_pool_mutant = "fork_loses_handle_ids"))]
        let lost = thread_id::held_by_other_threads(&held.allocator);
        #[cfg(victim_pool_mutant = "fork_loses_handle_ids")]
        let lost = thread_id::leased_except_current(&held.allocator);
        // No cleanup was in flight at the fork (the gate), so nobody holds
        // `LOST`.
        *LOST.lock().unwrap_or_else(PoisonError::into_inner) = lost;
        GENERATION.fetch_add(1, Ordering::Relaxed);
        cleanup_thread::forget_threads_after_fork(&mut held.cleanup_thread);
        drop(held);
    }

    /// Takes the fork gate for reading. Never nested: a reader waiting
    /// behind a forking writer would deadlock on its own first read.
    pub(crate) fn gate() -> Gate {
        Gate(GATE.read().unwrap_or_else(PoisonError::into_inner))
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
    pub(crate) struct Gate;

    pub(crate) fn gate() -> Gate {
        Gate
    }

    pub(crate) fn generation() -> u64 {
        0
    }

    pub(crate) fn lost_threads() -> LostThreads {
        LostThreads::default()
    }
}

pub(crate) use imp::{gate, generation, install, lost_threads, Gate};
