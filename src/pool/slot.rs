//! One thread slot (Go's `poolLocal`) and the owner's side of the
//! owner/cleanup handshake (DESIGN.md §6.1).
//!
//! **The operation rule.** An operation of a slot's owner runs between
//! [`Local::enter`] and [`Local::exit`] (on a fast hit, called directly;
//! otherwise by the drop of the [`Pinned`] that [`Local::resume`] makes),
//! and no user code (New, the reset hook, `T::drop`, `Clone`, `Debug`, a
//! guard's drop) runs in between. The structure enforces it: a fast hit
//! drops nothing, and every `T` that any other operation must drop goes
//! into the pin's [`Leftovers`], which `Pinned`'s destructor drops only
//! *after* it has ended the operation — also when the operation unwinds.
//! Debug builds check the rule at every entry to the pool's API
//! (`assert_outside_operation`).

use core::mem::MaybeUninit;
use core::ptr;

use crate::chain::PooledChain;
use crate::stats::{Event, SlotStats};
use crate::sync::{
    invariant, light_fence, AtomicPtr, AtomicU64, AtomicUsize, Lifecycle, Ordering, UnsafeCell,
};

/// Set in `Local::pin` while the owner is inside an operation.
pub(super) const ACTIVE: usize = 1;

/// Set in `Local::gate` while a cleanup claims the slot's private fields.
pub(super) const CLAIMED: u64 = 1;

/// One cleanup, in `Local::gate` (the count sits above the claim bit).
pub(super) const ONE_CLEANUP: u64 = 2;

/// Go's `private`: one item or none, its flag kept apart from the item.
///
/// With an `Option<T>` whose niche is a word of the item (a `Vec`'s
/// capacity), the test for an item reads that word alone and the compiler
/// then moves the rest of the item as one 16-byte copy: the Get that
/// follows a Put loads 16 bytes across the Put's 16- and 8-byte stores,
/// which the store buffer cannot forward, and waits for them to retire.
/// With the flag apart, a private hit tests the flag and moves the item
/// whole, with the same split as the Put that stored it
/// (benches/README.md measures it).
#[repr(C)]
pub(super) struct Private<T> {
    item: MaybeUninit<T>,
    /// True when `item` holds an item.
    full: bool,
}

impl<T> Private<T> {
    pub(super) const fn empty() -> Self {
        Self {
            item: MaybeUninit::uninit(),
            full: false,
        }
    }

    #[inline(always)]
    pub(super) fn is_none(&self) -> bool {
        !self.full
    }

    #[inline(always)]
    pub(super) fn is_some(&self) -> bool {
        self.full
    }

    /// Takes the item, if any.
    #[inline(always)]
    pub(super) fn take(&mut self) -> Option<T> {
        // SAFETY: just tested.
        self.full.then(|| unsafe { self.take_full() })
    }

    /// Takes the item.
    ///
    /// # Safety
    ///
    /// There is one (`is_some`).
    #[inline(always)]
    pub(super) unsafe fn take_full(&mut self) -> T {
        debug_assert!(self.full);
        self.full = false;
        // SAFETY: `full` was set (the caller's contract), so `item` is
        // initialised; clearing `full` first makes this the only move out.
        unsafe { self.item.assume_init_read() }
    }

    /// Takes the item, or makes one with `make` if there is none.
    #[inline(always)]
    pub(super) fn take_or_else(&mut self, make: impl FnOnce() -> T) -> T {
        if self.full {
            // SAFETY: just tested.
            unsafe { self.take_full() }
        } else {
            make()
        }
    }

    /// Lets `fill` move an item into the empty place, memory to memory:
    /// `fill` gets the item's address and returns whether it wrote one.
    /// Returns what `fill` returned.
    ///
    /// # Safety
    ///
    /// `fill` returns true only if it wrote an item there.
    #[inline(always)]
    pub(super) unsafe fn fill_with(&mut self, fill: impl FnOnce(*mut T) -> bool) -> bool {
        debug_assert!(!self.full, "private item overwritten");
        self.full = fill(self.item.as_mut_ptr());
        self.full
    }

    /// Stores `value`; the place must be empty.
    #[inline(always)]
    pub(super) fn put(&mut self, value: T) {
        debug_assert!(!self.full, "private item overwritten");
        self.item.write(value);
        self.full = true;
    }

    /// The item, if any.
    pub(super) fn get(&self) -> Option<&T> {
        // SAFETY: `full` says `item` is initialised.
        self.full.then(|| unsafe { self.item.assume_init_ref() })
    }
}

impl<T> Drop for Private<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// What the owner may touch only under the claim protocol.
pub(super) struct Owned<T> {
    /// Go's `private`: the primary generation's single item.
    pub(super) private: Private<T>,
    /// The victim generation's `private`.
    pub(super) victim_private: Option<T>,
    /// The cleanup count (`Local::gate` without the claim bit) the two
    /// fields above have caught up with.
    cleanups_applied: u64,
}

impl<T> Owned<T> {
    const fn new() -> Self {
        Self {
            private: Private::empty(),
            victim_private: None,
            cleanups_applied: 0,
        }
    }

    /// Takes the private item.
    #[inline(always)]
    pub(super) fn take_private(&mut self) -> Option<T> {
        self.private.take()
    }

    /// Stores `value` into the private field, which is free.
    #[inline(always)]
    pub(super) fn store_private(&mut self, value: T) {
        self.private.put(value);
    }

    /// True when cleanups (count `cleanups`, as in `Local::gate`) have
    /// claimed this slot since its fields last caught up.
    #[inline(always)]
    pub(super) fn behind(&self, cleanups: u64) -> bool {
        cleanups != self.cleanups_applied
    }

    /// Applies the cleanups this slot missed (count `cleanups`); what they
    /// release goes to `released` (dropped after the operation or the
    /// cleanup's critical section).
    #[cold]
    pub(super) fn catch_up(&mut self, cleanups: u64, released: &mut Leftovers<T>) {
        let missed = cleanups.wrapping_sub(self.cleanups_applied) / ONE_CLEANUP;
        self.cleanups_applied = cleanups;
        if missed == 0 {
            return;
        }
        if let Some(old_victim) = self.victim_private.take() {
            released.keep(old_victim);
        }
        if missed == 1 {
            self.victim_private = self.private.take();
        } else if let Some(private) = self.private.take() {
            released.keep(private);
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
    /// `(cleanups claiming this slot) * ONE_CLEANUP | CLAIMED`: the claim
    /// and the cleanup count in one word, so the owner reads both with one
    /// load. Written only by cleanup, under its lock: `CLAIMED` set
    /// (Relaxed, before its heavy fence), then, after the slot's chain swap
    /// and any rotation of `owned`, the count advanced and `CLAIMED`
    /// cleared in one Release store. Read by the owner after its light
    /// fence (Acquire): if `CLAIMED`, it leaves `owned` alone; else the
    /// value comes from a cleanup's final store, so it sees that cleanup's
    /// swap and rotation, and catches `owned` up to the count. A slot first
    /// used during a cleanup is not claimed by it and is untouched by it,
    /// as if it had been created after that cleanup.
    pub(super) gate: AtomicU64,
    /// Owned by the slot's owner inside an operation that saw `gate` unclaimed,
    /// and by cleanup while it sees the owner idle (DESIGN.md §6.1).
    pub(super) owned: UnsafeCell<Owned<T>>,
    /// Primary-generation chain (Go's `shared`), null until the first Put
    /// that overflows `private`. The owner installs one (CAS, Release: pairs
    /// with the Acquire loads of thieves and cleanup's swap) and is its
    /// single producer; cleanup swaps it out; thieves load it (Acquire).
    pub(super) shared: AtomicPtr<PooledChain<T>>,
    /// Victim-generation chain. Written only by cleanup (Release swap);
    /// loaded by every Get that reaches the victim (Acquire). Only popped at
    /// the tail.
    pub(super) victim: AtomicPtr<PooledChain<T>>,
    /// The count (as in `gate`) of the last cleanup that swapped this
    /// slot's chains. Written only by cleanup, right after the swap
    /// (Relaxed: published by the `gate` store); read by the owner's
    /// invariant check when it catches up (an owner that sees cleanup n's
    /// count sees cleanup n's swap).
    pub(super) swapped_by: AtomicU64,
    /// This slot's operation counters; written only by the owner.
    pub(super) stats: SlotStats,
    /// The slot's allocation as loom sees it (with its bucket): touched by
    /// every thread that reaches it through the bucket pointer.
    pub(super) life: Lifecycle,
}

impl<T> Local<T> {
    pub(super) fn new() -> Self {
        Self {
            pin: AtomicUsize::new(0),
            gate: AtomicU64::new(0),
            owned: UnsafeCell::new(Owned::new()),
            shared: AtomicPtr::new(ptr::null_mut()),
            victim: AtomicPtr::new(ptr::null_mut()),
            swapped_by: AtomicU64::new(0),
            stats: SlotStats::new(),
            life: Lifecycle::new(),
        }
    }

    /// Operations this slot's owners have completed (for the statistics:
    /// each one advances the sequence in `pin`).
    pub(super) fn completed_operations(&self) -> u64 {
        (self.pin.load(Ordering::Relaxed) >> 1) as u64
    }

    /// True when the owner is inside an operation. Only meaningful where
    /// nothing can start one: with `&mut` on the pool, or for a slot whose
    /// owner no longer exists (a thread that did not survive a `fork`).
    pub(super) fn frozen_active(&self) -> bool {
        self.pin.load(Ordering::Relaxed) & ACTIVE != 0
    }

    /// Runs `op` as one operation of this slot's owner: between the pin's
    /// `ACTIVE` store and its exit store. What `op` keeps in the pin's
    /// leftovers is dropped after the exit store, and so is anything
    /// dropped by an unwind out of `op` that went through the leftovers:
    /// the leftovers live in this frame, declared before the pin.
    #[inline(always)]
    pub(super) fn operate<R>(&self, op: impl FnOnce(&mut Pinned<'_, T>) -> R) -> R {
        self.resume(self.enter(), op)
    }

    /// Goes on with an operation that [`enter`](Self::enter) started (a
    /// fast path that missed): as [`operate`](Self::operate) from the
    /// entry on, catching `owned` up with the cleanups it missed first.
    #[inline(always)]
    pub(super) fn resume<R>(&self, entry: Entry, op: impl FnOnce(&mut Pinned<'_, T>) -> R) -> R {
        let mut leftovers = Leftovers::new();
        let result = {
            let mut pin = Pinned {
                local: self,
                idle: entry.idle,
                may_own: entry.may_own(),
                leftovers: &mut leftovers,
            };
            if pin.may_own {
                pin.owned_by(|owned, released| {
                    if owned.behind(entry.gate) {
                        invariant!(
                            self.swapped_by.load(Ordering::Relaxed) >= entry.gate,
                            "an owner that sees cleanup count {} must see that cleanup's \
                             chain swap (DESIGN.md §6.1: the count is published after the swap)",
                            entry.gate
                        );
                        let before = released.len;
                        owned.catch_up(entry.gate, released);
                        let dropped = (released.len - before) as u64;
                        if dropped != 0 {
                            self.stats.record_n(Event::CatchUpDrop, dropped);
                        }
                    }
                });
            }
            op(&mut pin)
            // `pin` drops here: the exit store.
        };
        // Dropped here, while `result` is still a local: if a `T::drop` in
        // the leftovers panics, the unwind drops `result` too. (Left to the
        // end of the scope, the leftovers would drop after the return value
        // was moved out, and an unwind there leaks it: rust-lang/rust#47949.
        // The adversarial fuzzer found that leak.) In place, not by
        // `drop(leftovers)`: that would copy all three places, 3 × size_of
        // T, on every operation.
        leftovers.drop_now();
        result
    }

    /// Starts an operation by this slot's owner: the handshake's owner half
    /// up to the gate load. No read-modify-write and, with membarrier, no
    /// hardware fence. The caller must end it with [`exit`](Self::exit)
    /// (directly, on a fast hit that cannot unwind) or hand it to
    /// [`resume`](Self::resume), and run no user code in between.
    #[inline(always)]
    pub(super) fn enter(&self) -> Entry {
        // MUTANT (verification/) `gate_load_relaxed`: the owner reads the
        // claim and count without Acquire.
        #[cfg(not(victim_pool_mutant = "gate_load_relaxed"))]
        const GATE_LOAD: Ordering = Ordering::Acquire;
        #[cfg(victim_pool_mutant = "gate_load_relaxed")]
        const GATE_LOAD: Ordering = Ordering::Relaxed;
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
        // Acquire pairs with the Release store that ends a cleanup's claim:
        // what it did to `owned` and to our chains happened-before.
        let gate = self.gate.load(GATE_LOAD);
        Entry { idle, gate }
    }

    /// Runs `f` on `owned` if this operation may touch it and it has caught
    /// up with every cleanup (the fast path's only access): the claim is
    /// tested before `owned` is touched, then the count compared. `None`
    /// otherwise; the caller then [`resume`](Self::resume)s.
    #[inline(always)]
    pub(super) fn owned_if_current<R>(
        &self,
        entry: Entry,
        f: impl FnOnce(&mut Owned<T>) -> R,
    ) -> Option<R> {
        if !entry.may_own() {
            return None;
        }
        self.owned.with_mut(|owned| {
            // SAFETY: as in `Pinned::owned_by` (`may_own`, sole owner, not
            // nested: the fast path holds no other reference to `owned`).
            let owned = unsafe { &mut *owned };
            if owned.behind(entry.gate) {
                None
            } else {
                Some(f(owned))
            }
        })
    }

    /// Takes the private item, which
    /// [`owned_if_current`](Self::owned_if_current) just found there in
    /// this operation (`entry`). One move, nothing that can unwind.
    #[inline(always)]
    pub(super) fn take_private(&self, entry: Entry) -> T {
        debug_assert!(entry.may_own());
        self.owned.with_mut(|owned| {
            // SAFETY: as in `owned_if_current`, which the caller just ran
            // for this operation: `owned` is ours and holds a private item.
            unsafe { (*owned).private.take_full() }
        })
    }

    /// Stores `value` into the private field, which
    /// [`owned_if_current`](Self::owned_if_current) just found free in this
    /// operation (`entry`). One move, nothing that can unwind.
    #[inline(always)]
    pub(super) fn put_private(&self, entry: Entry, value: T) {
        debug_assert!(entry.may_own());
        self.owned.with_mut(|owned| {
            // SAFETY: as in `owned_if_current`, which the caller just ran
            // for this operation and which found `owned` ours.
            unsafe { &mut *owned }.store_private(value);
        });
    }

    /// Ends the operation `entry` started.
    #[inline(always)]
    pub(super) fn exit(&self, entry: Entry) {
        self.exit_from(entry.idle);
    }

    /// Ends the operation that found the pin at `idle`.
    #[inline(always)]
    fn exit_from(&self, idle: usize) {
        // Release pairs with cleanup's Acquire load of `pin`: everything
        // this operation did to `owned` and to chains happened-before
        // cleanup touches or frees them.
        self.pin.store(idle.wrapping_add(2), Ordering::Release);
        #[cfg(debug_assertions)]
        operation_flag::set(false);
    }
}

/// What [`Local::enter`] saw: the pin before the operation and the gate
/// after the light fence.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    idle: usize,
    gate: u64,
}

impl Entry {
    /// True when the owner may touch `owned` in this operation.
    #[inline(always)]
    fn may_own(self) -> bool {
        self.gate & CLAIMED == 0
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
/// Three places are enough: a catch-up releases at most two items, and a
/// Put carries one. Empty, it costs one store to create and one load to
/// drop, whatever `T` is.
pub(crate) struct Leftovers<T> {
    len: usize,
    items: [MaybeUninit<T>; 3],
}

impl<T> Leftovers<T> {
    #[inline(always)]
    pub(crate) const fn new() -> Self {
        Self {
            len: 0,
            items: [const { MaybeUninit::uninit() }; 3],
        }
    }

    /// Keeps `item` to be dropped after the operation.
    #[inline]
    pub(crate) fn keep(&mut self, item: T) {
        debug_assert!(self.len < self.items.len(), "leftovers overflow");
        let Some(place) = self.items.get_mut(self.len) else {
            // Unreachable (two from a catch-up, one carried); leaking is the
            // only choice that runs no user code here.
            core::mem::forget(item);
            return;
        };
        place.write(item);
        self.len += 1;
    }

    /// Takes back the item kept last (a Put's carried item, to place it).
    #[inline]
    pub(crate) fn take_last(&mut self) -> Option<T> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: items below the old `len` are initialised, and lowering
        // `len` first makes this one ours alone.
        Some(unsafe { self.items[self.len].assume_init_read() })
    }

    /// Drops what was kept, in place.
    #[inline(always)]
    pub(crate) fn drop_now(&mut self) {
        if self.len != 0 {
            self.drop_all();
        }
    }

    #[cold]
    #[inline(never)]
    fn drop_all(&mut self) {
        /// Drops what is left if a `T::drop` unwinds (as `Vec` does).
        struct Rest<'a, T>(&'a mut Leftovers<T>);
        impl<T> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                while let Some(item) = self.0.take_last() {
                    drop(item);
                }
            }
        }
        while let Some(item) = self.take_last() {
            let rest = Rest(self);
            drop(item);
            core::mem::forget(rest);
        }
    }
}

impl<T> crate::chain::Carrier<T> for Leftovers<T> {
    fn take(&mut self) -> Option<T> {
        self.take_last()
    }

    fn put_back(&mut self, value: T) {
        self.keep(value);
    }
}

impl<T> Drop for Leftovers<T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// An operation in progress on a slot; ends it (even on unwind) when
/// dropped, then drops its [`Leftovers`].
pub(super) struct Pinned<'a, T> {
    pub(super) local: &'a Local<T>,
    idle: usize,
    /// True when the owner may touch `owned` in this operation.
    may_own: bool,
    /// Owned by [`Local::operate`]'s frame, declared before the pin, so
    /// dropped after it: after the operation has ended.
    pub(super) leftovers: &'a mut Leftovers<T>,
}

impl<T> Pinned<'_, T> {
    /// Runs `f` on the slot's `owned` fields and the operation's leftovers,
    /// if this operation may touch `owned` (the closure shape lets loom see
    /// every access). `f` must not unwind while it holds a `T` that is in
    /// neither `owned` nor the leftovers.
    #[inline]
    pub(super) fn with_owned<R>(
        &mut self,
        f: impl FnOnce(&mut Owned<T>, &mut Leftovers<T>) -> R,
    ) -> Option<R> {
        if !self.may_own {
            return None;
        }
        Some(self.owned_by(f))
    }

    /// Takes the private item (Get's first step), if this operation may
    /// touch `owned`.
    #[inline(always)]
    pub(super) fn take_private(&mut self) -> Option<T> {
        if !self.may_own {
            return None;
        }
        self.owned_by(|owned, _| owned.take_private())
    }

    /// True when Put may store its item straight into the private field:
    /// this operation may touch `owned`, and the field is free.
    #[inline(always)]
    pub(super) fn private_is_free(&mut self) -> bool {
        self.may_own && self.owned_by(|owned, _| owned.private.is_none())
    }

    /// Stores `value` into the private field, which
    /// [`private_is_free`](Self::private_is_free) just found free. One move,
    /// nothing that can unwind.
    #[inline(always)]
    pub(super) fn put_private(&mut self, value: T) {
        debug_assert!(self.may_own);
        self.owned_by(|owned, _| owned.store_private(value));
    }

    /// Items the slot holds outside its chain: 1 if this operation may
    /// touch `owned` and the private field is taken, else 0 (for the
    /// per-thread bound).
    pub(super) fn private_held(&mut self) -> usize {
        usize::from(self.may_own && self.owned_by(|owned, _| owned.private.is_some()))
    }

    /// Runs `f` on `owned`; the caller checked `may_own`.
    #[inline(always)]
    fn owned_by<R>(&mut self, f: impl FnOnce(&mut Owned<T>, &mut Leftovers<T>) -> R) -> R {
        let leftovers = &mut *self.leftovers;
        self.local.owned.with_mut(|owned| {
            // SAFETY:
            // - `may_own`: after our light fence we saw `gate` unclaimed, so
            //   cleanup either finished with `owned` (its Release clear
            //   happened-before) or will see us active and keep out;
            // - we are the slot's only owner (thread id lease or `&mut
            //   Pool`; no user code runs inside an operation, so the lease
            //   cannot be given away meanwhile), and no caller nests
            //   `with_owned`, so the reference is unique for the closure.
            f(unsafe { &mut *owned }, leftovers)
        })
    }
}

impl<T> Drop for Pinned<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.local.exit_from(self.idle);
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
