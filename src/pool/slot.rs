//! One thread slot (Go's `poolLocal`) and the owner's side of the
//! owner/cleanup handshake (DESIGN.md §6.1).
//!
//! **The operation rule.** An operation of a slot's owner runs between
//! [`Local::enter`] and the drop of the [`Pinned`] it returns, and no user
//! code (New, the reset hook, `T::drop`, `Clone`, `Debug`, a guard's drop)
//! runs in between. The structure enforces it: every `T` that an operation
//! must drop goes into the pin's [`Leftovers`], which `Pinned`'s destructor
//! drops only *after* it has ended the operation — also when the operation
//! unwinds. Debug builds check the rule at every entry to the pool's API
//! (`assert_outside_operation`).

use core::ptr;

use crate::chain::PoolChain;
use crate::stats::SlotStats;
use crate::sync::{
    light_fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, UnsafeCell,
};

/// Set in `Local::pin` while the owner is inside an operation.
pub(super) const ACTIVE: usize = 1;

/// What the owner may touch only under the claim protocol.
pub(super) struct Owned<T> {
    /// Go's `private`: the primary generation's single item.
    pub(super) private: Option<T>,
    /// The victim generation's `private`.
    pub(super) victim_private: Option<T>,
    /// How many of the cleanups that claimed this slot the two fields
    /// above have caught up with (compared with `Local::cleanups`).
    cleanups_applied: u64,
}

impl<T> Owned<T> {
    const fn new() -> Self {
        Self {
            private: None,
            victim_private: None,
            cleanups_applied: 0,
        }
    }

    /// Applies the cleanups this slot missed; what they release goes to
    /// `released` (dropped by the caller outside any critical section).
    #[inline]
    pub(super) fn catch_up(&mut self, cleanups: u64, released: &mut [Option<T>; 2]) {
        let missed = cleanups.wrapping_sub(self.cleanups_applied);
        if missed == 0 {
            return;
        }
        self.cleanups_applied = cleanups;
        released[0] = self.victim_private.take();
        if missed == 1 {
            self.victim_private = self.private.take();
        } else {
            released[1] = self.private.take();
        }
    }
}

/// One thread slot (Go's `poolLocal`), padded against false sharing by
/// its bucket.
pub(super) struct Local<T> {
    /// `(sequence << 1) | ACTIVE`. Written only by the slot's owner: set
    /// active on entry (Release), then the light fence; cleared with the
    /// sequence advanced on exit (Release). Read by cleanup (Acquire) to
    /// know whether it may touch `owned`, and to detect grace periods.
    pub(super) pin: AtomicUsize,
    /// Set by cleanup (Relaxed, before its heavy fence) while it may touch
    /// `owned`, cleared (Release) when done. Read by the owner after its
    /// light fence (Acquire): if set, the owner leaves `owned` alone.
    pub(super) claim: AtomicBool,
    /// Cleanups that claimed this slot. Written only by cleanup (under its
    /// lock, after swapping the slot's chains, Release); read by the owner
    /// (Acquire) to catch `owned` up. A slot first used during a cleanup is
    /// not claimed by it and is untouched by it, as if it had been created
    /// after that cleanup.
    pub(super) cleanups: AtomicU64,
    /// Owned by the slot's owner inside an operation that saw `claim` clear,
    /// and by cleanup while it sees the owner idle (DESIGN.md §6.1).
    pub(super) owned: UnsafeCell<Owned<T>>,
    /// Primary-generation chain (Go's `shared`), null until the first Put
    /// that overflows `private`. The owner installs one (CAS, Release: pairs
    /// with the Acquire loads of thieves and cleanup's swap) and is its
    /// single producer; cleanup swaps it out; thieves load it (Acquire).
    pub(super) shared: AtomicPtr<PoolChain<T>>,
    /// Victim-generation chain. Written only by cleanup (AcqRel swap);
    /// loaded by every Get that reaches the victim (Acquire). Only popped at
    /// the tail.
    pub(super) victim: AtomicPtr<PoolChain<T>>,
    /// This slot's operation counters; written only by the owner.
    pub(super) stats: SlotStats,
}

impl<T> Local<T> {
    pub(super) fn new() -> Self {
        Self {
            pin: AtomicUsize::new(0),
            claim: AtomicBool::new(false),
            cleanups: AtomicU64::new(0),
            owned: UnsafeCell::new(Owned::new()),
            shared: AtomicPtr::new(ptr::null_mut()),
            victim: AtomicPtr::new(ptr::null_mut()),
            stats: SlotStats::new(),
        }
    }

    /// True when the owner is inside an operation. Only meaningful where
    /// nothing can start one: with `&mut` on the pool, or for a slot whose
    /// owner no longer exists (a thread that did not survive a `fork`).
    pub(super) fn frozen_active(&self) -> bool {
        self.pin.load(Ordering::Relaxed) & ACTIVE != 0
    }

    /// Starts an operation by this slot's owner, and catches its private
    /// fields up with the cleanups it missed. No read-modify-write and,
    /// with membarrier, no hardware fence.
    #[inline(always)]
    pub(super) fn enter(&self) -> Pinned<'_, T> {
        #[cfg(debug_assertions)]
        operation_flag::set(true);
        // Only the owner writes `pin`, so this load sees our last store.
        let idle = self.pin.load(Ordering::Relaxed);
        // Release (a plain store on x86): a cleanup that reads this value
        // (Acquire, in its grace-period check) sees the previous operation
        // as over, so that operation's reads of a retired chain must
        // happen-before the free. Since C++20 a later Relaxed store no longer
        // continues the previous exit's release sequence, so this store has
        // to release by itself (Miri caught the race).
        self.pin.store(idle | ACTIVE, Ordering::Release);
        // Pairs with `heavy_fence` in cleanup: either cleanup sees us
        // active, or we see its claim (Dekker).
        light_fence();
        // Acquire pairs with cleanup's Release clear of `claim`: what it did
        // to `owned` happened-before our use of it.
        let may_own = !self.claim.load(Ordering::Acquire);
        let mut pin = Pinned {
            local: self,
            idle,
            may_own,
            leftovers: Leftovers::new(),
        };
        if may_own {
            // Acquire pairs with cleanup's Release store: if we catch up
            // with that cleanup, we also see the chain swap it made before.
            let cleanups = self.cleanups.load(Ordering::Acquire);
            let released = &mut pin.leftovers.caught_up;
            self.owned.with_mut(|owned| {
                // SAFETY: as in `Pinned::with_owned` (`may_own`, sole owner,
                // not nested).
                unsafe { (*owned).catch_up(cleanups, released) }
            });
        }
        pin
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        if self.frozen_active() {
            // Only a `fork` leaves a slot inside an operation at the pool's
            // drop (`&mut`: nothing else can): its owner did not survive
            // into this process and may have stopped halfway through a write
            // to `owned` or to its chain. Leak all of it rather than read
            // it (DESIGN.md §6.5).
            self.owned.with_mut(|owned| {
                // SAFETY: `&mut self`; `write` does not read or drop the
                // possibly torn old value.
                unsafe { ptr::write(owned, Owned::new()) }
            });
            return;
        }
        let chains = [&self.shared, &self.victim].map(|chain| {
            let chain = chain.load(Ordering::Relaxed);
            // SAFETY:
            // - chains are allocated by `Box::into_raw` in `put_shared` and
            //   referenced by exactly one of `shared` / `victim` / a
            //   retired batch at a time;
            // - `&mut self`: the pool is being dropped, no one else can
            //   reach them.
            (!chain.is_null()).then(|| unsafe { Box::from_raw(chain) })
        });
        // Both are dropped even if a `T::drop` in the first panics.
        drop(chains);
    }
}

/// What an operation must drop: dropped by [`Pinned`]'s destructor after the
/// operation has ended, so no `T::drop` runs inside it, even on unwind.
pub(super) struct Leftovers<T> {
    /// Items released by the cleanups the slot caught up with.
    caught_up: [Option<T>; 2],
    /// The item a Put is placing: moved out when it lands in the pool; still
    /// here if the Put drops it (the bound) or unwinds (a failed allocation).
    pub(super) carried: Option<T>,
}

impl<T> Leftovers<T> {
    #[inline(always)]
    const fn new() -> Self {
        Self {
            caught_up: [None, None],
            carried: None,
        }
    }
}

/// An operation in progress on a slot; ends it (even on unwind) when
/// dropped, then drops its [`Leftovers`].
pub(super) struct Pinned<'a, T> {
    pub(super) local: &'a Local<T>,
    idle: usize,
    /// True when the owner may touch `owned` in this operation.
    may_own: bool,
    /// Dropped after `Drop::drop` has ended the operation (fields drop
    /// after the destructor body).
    pub(super) leftovers: Leftovers<T>,
}

impl<T> Pinned<'_, T> {
    /// Runs `f` on the slot's `owned` fields and the operation's leftovers,
    /// if this operation may touch `owned` (the closure shape lets loom see
    /// every access).
    #[inline]
    pub(super) fn with_owned<R>(
        &mut self,
        f: impl FnOnce(&mut Owned<T>, &mut Leftovers<T>) -> R,
    ) -> Option<R> {
        if !self.may_own {
            return None;
        }
        let leftovers = &mut self.leftovers;
        Some(self.local.owned.with_mut(|owned| {
            // SAFETY:
            // - `may_own`: after our light fence we saw `claim` clear, so
            //   cleanup either finished with `owned` (its Release clear
            //   happened-before) or will see us active and keep out;
            // - we are the slot's only owner (thread id lease or `&mut
            //   Pool`; no user code runs inside an operation, so the lease
            //   cannot be given away meanwhile), and no caller nests
            //   `with_owned`, so the reference is unique for the closure.
            f(unsafe { &mut *owned }, leftovers)
        }))
    }
}

impl<T> Drop for Pinned<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // Release pairs with cleanup's Acquire load of `pin`: everything
        // this operation did to `owned` and to chains happened-before
        // cleanup touches or frees them.
        self.local
            .pin
            .store(self.idle.wrapping_add(2), Ordering::Release);
        #[cfg(debug_assertions)]
        operation_flag::set(false);
        // `self.leftovers` is dropped after this body: outside the
        // operation.
    }
}

/// Debug builds: whether this thread is inside a pool operation or a
/// cleanup's critical section, to catch user code that runs there.
#[cfg(debug_assertions)]
pub(crate) mod operation_flag {
    use std::cell::Cell;

    use crate::sync::fast_thread_local;

    fast_thread_local! {
        static INSIDE: Cell<bool> = Cell::new(false);
    }

    pub(crate) fn set(inside: bool) {
        let _ = INSIDE.try_with(|flag| flag.set(inside));
    }

    pub(crate) fn get() -> bool {
        INSIDE.try_with(Cell::get).unwrap_or(false)
    }
}

/// Panics (debug builds) if called from inside a pool operation or a
/// cleanup's critical section: user code ran where the operation rule
/// forbids it.
#[inline(always)]
pub(crate) fn assert_outside_operation(api: &str) {
    #[cfg(debug_assertions)]
    assert!(
        !operation_flag::get(),
        "victim-pool bug: {api} called from inside a pool operation \
         (user code must never run inside one; DESIGN.md §5.1)"
    );
    #[cfg(not(debug_assertions))]
    let _ = api;
}

/// Marks a cleanup's critical section for [`assert_outside_operation`]
/// (debug builds).
pub(super) struct CriticalSection(());

impl CriticalSection {
    pub(super) fn enter() -> Self {
        #[cfg(debug_assertions)]
        operation_flag::set(true);
        Self(())
    }
}

impl Drop for CriticalSection {
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        operation_flag::set(false);
    }
}
