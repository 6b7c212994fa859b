//! The state behind a [`Pool`](super::Pool): slot buckets, the slot index,
//! and Go's Get and Put as operations of one slot's owner.

use core::ptr;

use crossbeam_utils::CachePadded;

use super::cleanup::CleanupState;
use super::slot::{Entry, Local, Pinned, Private};
use crate::chain::PooledChain;
use crate::process::cleanup_thread::{self, Watch};
use crate::slot_marks::{bucket_of, Mark, SlotMarks, BUCKETS};
use crate::stats::Event;
use crate::sync::{
    before_chain_allocation, global, init_fences, AtomicPtr, AtomicU64, AtomicUsize, Mutex,
    Ordering,
};
use crate::thread_id;

pub(super) type NewFn<T> = Box<dyn Fn() -> T + Send + Sync>;
pub(super) type ResetFn<T> = Box<dyn Fn(&mut T) + Send + Sync>;
pub(super) type KeepFn<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// Configuration shared by every slot.
pub(super) struct Hooks<T> {
    pub(super) new_fn: Option<NewFn<T>>,
    pub(super) reset: Option<ResetFn<T>>,
    pub(super) keep_if: Option<KeepFn<T>>,
    pub(super) max_per_thread: Option<usize>,
    /// Chaos mode (Go's race-mode pool): Put drops and Get ignores the pool
    /// one time in four.
    pub(super) chaos: bool,
    /// Cleaned automatically once this long has passed since its last
    /// cleanup (`None`: only by explicit calls).
    pub(super) cleanup_interval: Option<core::time::Duration>,
}

impl<T> Hooks<T> {
    pub(super) fn new() -> Self {
        Self {
            new_fn: None,
            reset: None,
            keep_if: None,
            max_per_thread: None,
            chaos: false,
            cleanup_interval: Some(cleanup_thread::DEFAULT_INTERVAL),
        }
    }
}

global! {
    /// The next pool key. Keys are never reused (2^64 pools outlast any
    /// process), so a slot cached for a dropped pool can never match a
    /// pool built later, even at the same address.
    static NEXT_POOL_KEY: AtomicU64 = AtomicU64::new(1);
}

/// The state behind a [`Pool`](super::Pool).
pub(super) struct PoolShared<T> {
    /// This pool's key in the threads' slot caches: unique for the whole
    /// process, never 0.
    key: u64,
    /// Whether threads cache their slot of this pool: not in chaos mode,
    /// whose Get must roll its dice before any operation.
    slot_cache: bool,
    /// Bucket `b`: null or a leaked `Box<[CachePadded<Local<T>>]>` of `2^b`
    /// slots. Installed once by CAS (Release; loads are Acquire), freed only
    /// with the pool.
    buckets: [AtomicPtr<CachePadded<Local<T>>>; BUCKETS],
    /// One past the highest allocated slot. Raised (`fetch_max`) before a
    /// bucket is installed, which publishes it; read by scans (both Relaxed:
    /// slots are reached through the bucket pointers).
    pub(super) slot_count: AtomicUsize,
    /// Which slots' chains may hold items (DESIGN.md §5, "The slot index").
    pub(super) marks: SlotMarks,
    /// Cleanup's own state; the mutex also serialises cleanups.
    pub(super) cleanup_state: Mutex<CleanupState<T>>,
    /// Statistics written by cleanup (`fetch_add`), read Relaxed by
    /// `stats`: cleanups run, items they dropped, heavy fences the kernel
    /// refused, cleanups whose drops panicked.
    pub(super) cleanups: AtomicU64,
    /// The victim generation's epoch, a sequence lock: odd while a cleanup
    /// swaps chains and rotates private fields, even (and new) after it.
    /// Written only by cleanup, under its lock: the odd increment before
    /// its first chain swap (Relaxed: the swaps' Release carries it to
    /// whoever sees a swap), the even one after its last rotation
    /// (Release: pairs with the Acquire loads in Get's victim step, so a
    /// Get that reads the new epoch sees every swap of that cleanup).
    pub(super) victim_epoch: AtomicU64,
    /// `epoch + 1` once a Get has scanned the victim generation of that
    /// (even) epoch from start to end without a cleanup in between and
    /// found it empty: later Gets skip the victim until the next cleanup
    /// (Go's `victimSize = 0`). Written by such Gets, read by Gets reaching
    /// the victim; Relaxed: a hint about a generation the reader has
    /// already identified through `victim_epoch`.
    pub(super) victim_exhausted: AtomicU64,
    pub(super) cleanup_drops: AtomicU64,
    pub(super) fence_failures: AtomicU64,
    /// Shared with every `Released` of this pool, which counts a panic of
    /// its drop even when it is dropped after the pool.
    pub(super) cleanup_panics: std::sync::Arc<AtomicU64>,
    /// Items the `keep_if` filter refused (Relaxed counter).
    pub(super) refused: AtomicU64,
    /// Retired batches waiting for their grace period: written by cleanup
    /// under its lock, read Relaxed by `stats`, which takes no lock (a
    /// lock taken outside the fork gate could be copied held into a child).
    pub(super) retired_waiting: AtomicUsize,
    /// When the last cleanup ended (`cleanup_thread::now()`); written by
    /// cleanup, read by the cleanup thread (Relaxed: a hint).
    pub(super) last_cleanup: AtomicU64,
    /// This pool's entry in the cleanup thread's schedule, if it cleans by
    /// interval; removed with the pool.
    _schedule_entry: Option<Watch>,
    pub(super) hooks: Hooks<T>,
    /// No reset hook, no filter, no per-thread bound, no chaos: a Put has
    /// nothing to check before the pool (one test instead of four).
    pub(super) put_is_plain: bool,
}

// SAFETY: `T`s move between threads through the slots (`T: Send`); every
// shared field is atomic or guarded by the protocols in DESIGN.md; the hooks
// are `Send + Sync` closures.
unsafe impl<T: Send> Send for PoolShared<T> {}
// SAFETY: as for `Send`; `&PoolShared` never hands out `&T` to another
// thread (only `Pool::snapshot`, under `&mut Pool`, reads items in place).
unsafe impl<T: Send> Sync for PoolShared<T> {}

impl<T> PoolShared<T> {
    pub(super) fn new(hooks: Hooks<T>) -> Self {
        init_fences();
        let cleanup_panics = std::sync::Arc::new(AtomicU64::new(0));
        // Relaxed: a counter; uniqueness is all the key needs.
        #[cfg(not(victim_pool_mutant = "slot_cache_keyed_by_address"))]
        let key = NEXT_POOL_KEY.fetch_add(1, Ordering::Relaxed);
        // MUTANT (verification/) `slot_cache_keyed_by_address`: the key is
        // the address of an allocation of the pool, which a pool built after
        // this one is dropped may get again.
        #[cfg(victim_pool_mutant = "slot_cache_keyed_by_address")]
        let key = std::sync::Arc::as_ptr(&cleanup_panics) as u64;
        Self {
            key,
            slot_cache: !hooks.chaos,
            buckets: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            slot_count: AtomicUsize::new(0),
            marks: SlotMarks::new(),
            cleanup_state: Mutex::new(CleanupState::new()),
            cleanups: AtomicU64::new(0),
            victim_epoch: AtomicU64::new(0),
            victim_exhausted: AtomicU64::new(0),
            cleanup_drops: AtomicU64::new(0),
            fence_failures: AtomicU64::new(0),
            cleanup_panics,
            refused: AtomicU64::new(0),
            retired_waiting: AtomicUsize::new(0),
            last_cleanup: AtomicU64::new(cleanup_thread::now()),
            _schedule_entry: hooks.cleanup_interval.map(cleanup_thread::watch),
            put_is_plain: hooks.reset.is_none()
                && hooks.keep_if.is_none()
                && hooks.max_per_thread.is_none()
                && !hooks.chaos,
            hooks,
        }
    }

    /// Slot `id`, if its bucket exists.
    #[inline]
    pub(super) fn existing_local(&self, id: usize) -> Option<&Local<T>> {
        let (bucket, index) = bucket_of(id);
        // Acquire pairs with the Release CAS in `allocate_bucket`: the
        // slots' initialisation is visible.
        let slots = self.buckets[bucket].load(Ordering::Acquire);
        if slots.is_null() {
            return None;
        }
        // SAFETY:
        // - a non-null bucket is a live allocation of `2^bucket` slots
        //   (freed only with the pool), and `index < 2^bucket`.
        let local = unsafe { &*slots.add(index) };
        local.life.touch();
        Some(local)
    }

    /// Slot `id`, allocating its bucket on first use.
    #[inline]
    pub(super) fn local(&self, id: usize) -> &Local<T> {
        match self.existing_local(id) {
            Some(local) => local,
            None => self.allocate_bucket(id),
        }
    }

    #[cold]
    fn allocate_bucket(&self, id: usize) -> &Local<T> {
        let (bucket, index) = bucket_of(id);
        // The index first: whoever sees the bucket finds its marks too.
        self.marks.ensure(bucket);
        // Raise `slot_count` before the bucket can be seen: every thread that
        // uses one of its slots (whether it installs the bucket or finds it
        // installed) then happens-after the raise, so scans and cleanup
        // cover every slot in use.
        // Relaxed: the bucket CAS (Release) below publishes the raise with
        // the bucket; a scan dereferences a slot only through the bucket
        // pointer (Acquire), so the count itself publishes nothing.
        self.slot_count
            .fetch_max((1 << (bucket + 1)) - 1, Ordering::Relaxed);
        let fresh: Box<[CachePadded<Local<T>>]> = (0..1usize << bucket)
            .map(|_| CachePadded::new(Local::new()))
            .collect();
        let fresh = Box::into_raw(fresh) as *mut CachePadded<Local<T>>;
        // Release pairs with the Acquire load in `existing_local`.
        let slots = match self.buckets[bucket].compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(installed) => {
                // SAFETY: `fresh` was never published; we own it.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, 1 << bucket)) });
                installed
            }
        };
        // SAFETY: as in `existing_local`.
        let local = unsafe { &*slots.add(index) };
        local.life.touch();
        local
    }

    pub(super) fn stats(&self) -> crate::stats::PoolStats {
        // MUTANT (verification/) `stats_lock_without_gate`: the old code
        // read the retired batches under the pool's lock, outside the fork
        // gate, so a fork meanwhile left the child's lock held for ever.
        #[cfg(victim_pool_mutant = "stats_lock_without_gate")]
        self.retired_waiting.store(
            crate::sync::lock(&self.cleanup_state).waiting(),
            Ordering::Relaxed,
        );
        let mut stats = crate::stats::PoolStats {
            cleanups: self.cleanups.load(Ordering::Relaxed),
            cleanup_drops: self.cleanup_drops.load(Ordering::Relaxed),
            fence_failures: self.fence_failures.load(Ordering::Relaxed),
            cleanup_panics: self.cleanup_panics.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            slots: self.slot_count.load(Ordering::Relaxed),
            retired_waiting: self.retired_waiting.load(Ordering::Relaxed),
            ..Default::default()
        };
        for local in self.locals().into_iter().flatten() {
            stats.add_slot(&local.stats, local.completed_operations());
        }
        // A refused Put ends before any operation: only `refused` saw it.
        stats.puts += stats.refused;
        stats
    }

    /// Every slot below `slot_count`, indexed by id (`None` where its
    /// bucket is not allocated).
    pub(super) fn locals(&self) -> Vec<Option<&Local<T>>> {
        // Relaxed: the count only bounds the ids; each slot is reached
        // through `existing_local`'s Acquire load. A use of a slot that
        // happened-before us happened-after its raise, so we read it.
        let count = self.slot_count.load(Ordering::Relaxed);
        (0..count).map(|id| self.existing_local(id)).collect()
    }

    /// The slots whose `mark` chain may hold items, in Go's order: `first`,
    /// `first + 1`, … wrapping.
    fn marked_slots(&self, mark: Mark, first: usize) -> impl Iterator<Item = (usize, &Local<T>)> {
        // Relaxed: bounds the scan only, as in `locals`.
        let count = self.slot_count.load(Ordering::Relaxed);
        self.marks
            .marked_from(mark, first, count)
            .filter_map(move |id| Some((id, self.existing_local(id)?)))
    }

    /// Go's Get without New, as slot `id`.
    #[inline(always)]
    pub(super) fn get_in(&self, local: &Local<T>, id: usize) -> Option<T> {
        if self.hooks.chaos && crate::chaos::one_in_four() {
            local.stats.record(Event::ChaosMiss);
            return None;
        }
        // The operation ends, then what a catch-up released is dropped.
        local.operate(|pin| self.get_op(pin, id))
    }

    /// Go's Get inside an operation of slot `id`.
    #[inline(always)]
    fn get_op(&self, pin: &mut Pinned<'_, T>, id: usize) -> Option<T> {
        let mut found = Private::empty();
        self.get_into(pin, id, false, &mut found);
        found.take()
    }

    /// Go's Get inside an operation of slot `id`, into the empty `found`;
    /// `own_head_tried`: the fast path found the private field empty and
    /// the own chain empty in this same operation.
    #[inline(always)]
    fn get_into(
        &self,
        pin: &mut Pinned<'_, T>,
        id: usize,
        own_head_tried: bool,
        found: &mut Private<T>,
    ) {
        // 1. Own private (caught up with missed cleanups on entry).
        if !own_head_tried {
            if let Some(value) = pin.take_private() {
                pin.local.stats.record(Event::PrivateHit);
                found.put(value);
                return;
            }
        }
        let event = self.get_slow(pin, id, own_head_tried, found);
        pin.local.stats.record(event);
    }

    /// Go's Get through slot `local` (id `id()`), for a pool without chaos
    /// mode: a private hit is the whole operation, with no leftovers and no
    /// pin on the stack, and hands the item to `hit` (never through an
    /// `Option`, whose niche test would split the item's copy; see
    /// `Private`); anything else goes on inside the same operation
    /// ([`get_resumed`](Self::get_resumed)) and hands what it found to
    /// `resumed` after the operation has ended, in place (`Private`: the
    /// item moves from the ring to the caller in the same pieces as every
    /// other copy of it, DESIGN.md §5.2).
    #[inline(always)]
    pub(super) fn get_fast<R>(
        &self,
        local: &Local<T>,
        id: impl FnOnce() -> usize,
        hit: impl FnOnce(T) -> R,
        resumed: impl FnOnce(&mut Private<T>) -> R,
    ) -> R {
        debug_assert!(!self.hooks.chaos);
        let entry = local.enter();
        let private_empty = match local.owned_if_current(entry, |owned| owned.private.is_some()) {
            Some(true) => {
                let value = local.take_private(entry);
                local.stats.record(Event::PrivateHit);
                local.exit(entry);
                return hit(value);
            }
            current => current.is_some(),
        };
        self.get_resumed(local, entry, id(), private_empty, resumed)
    }

    /// Step 2 of Get: pops the newest item of the slot's own chain into
    /// `*out`; true if there was one.
    ///
    /// # Safety
    ///
    /// The caller is inside an operation of `local`'s owner, and `out` is
    /// valid for a write of `T` (whatever it holds is overwritten, not
    /// dropped).
    #[inline(always)]
    unsafe fn pop_own_head(local: &Local<T>, out: *mut T) -> bool {
        #[cfg(feature = "fault-injection")]
        crate::fault_injection::stall_point();
        // Relaxed: written only by us, by a previous owner of this slot (its
        // last access happened-before via the id lease) or by cleanup's swap
        // to null (a stale pointer is a chain our pin keeps alive).
        let shared = local.shared.load(Ordering::Relaxed);
        // SAFETY:
        // - the chain stays allocated while we are inside the operation
        //   (our contract; retired chains are freed only after every
        //   pinned op has ended);
        // - we own the slot, so we are its chain's only producer;
        // - `out` is writable (our contract).
        // The mark stays even if that was the last item (a mark only says
        // "may hold items"): checking would walk the chain on every hit, and
        // a thief that finds it empty costs less than that. Our next miss
        // clears it (`get_slow`).
        !shared.is_null() && unsafe { (*shared).pop_head_into(out) }
    }

    #[cold]
    #[inline(never)]
    fn get_resumed<R>(
        &self,
        local: &Local<T>,
        entry: Entry,
        id: usize,
        private_empty: bool,
        resumed: impl FnOnce(&mut Private<T>) -> R,
    ) -> R {
        // Outside the operation's frame: if dropping its leftovers
        // unwinds, the unwind drops what was found.
        let mut found = Private::empty();
        // 2. Own shared, when the fast path found `owned` current and the
        //    private field empty: still without leftovers or a pin (a pop
        //    cannot unwind and drops nothing).
        // SAFETY: `pop_own_head` returns true only when it wrote an item,
        // into `found`'s place; we are inside an operation of the slot's
        // owner.
        if private_empty && unsafe { found.fill_with(|out| Self::pop_own_head(local, out)) } {
            local.stats.record(Event::SharedHit);
            local.exit(entry);
            return resumed(&mut found);
        }
        local.resume(entry, |pin| {
            self.get_into(pin, id, private_empty, &mut found);
        });
        resumed(&mut found)
    }

    /// Go's Get without New for the calling thread.
    #[inline(always)]
    pub(super) fn get_current(&self) -> Option<T> {
        match self.cached_local() {
            // Cached: no chaos mode (`slot_cache`).
            Some(local) => self.get_fast(local, thread_id::cached_id, Some, Private::take),
            None => self.get_uncached(),
        }
    }

    #[cold]
    #[inline(never)]
    fn get_uncached(&self) -> Option<T> {
        self.with_local_uncached((), |local, id, ()| self.get_in(local, id))
    }

    /// Go's Get with New for the calling thread: New runs after the
    /// operation has ended, so it may use the pool itself.
    #[inline(always)]
    pub(super) fn get_or_new_current(&self) -> T {
        match self.cached_local() {
            Some(local) => self.get_fast(
                local,
                thread_id::cached_id,
                |value| value,
                |found| found.take_or_else(|| self.new_item(local)),
            ),
            None => self.get_or_new_uncached(),
        }
    }

    #[cold]
    #[inline(never)]
    fn get_or_new_uncached(&self) -> T {
        match self.get_uncached() {
            Some(value) => value,
            None => self.new_item_current(),
        }
    }

    #[cold]
    #[inline(never)]
    fn new_item_current(&self) -> T {
        self.with_local((), |local, _, ()| self.new_item(local))
    }

    /// This thread's slot, if the slot cache has it.
    #[inline(always)]
    fn cached_local(&self) -> Option<&Local<T>> {
        let slot = thread_id::cached_slot(self.key)?.cast::<Local<T>>();
        // SAFETY: (DESIGN.md §5.2)
        // - the entry was cached by this thread for the pool with key
        //   `self.key` (`with_local_uncached`), with the address of a slot
        //   of that pool; keys are never reused, so that pool is this one,
        //   alive while `&self` is, and its slots are freed only with it;
        // - the cache holds slots of this thread's current id only (it is
        //   emptied whenever the id changes or its lease ends), so the slot
        //   is this thread's own, as `local(id)` would have found it.
        Some(unsafe { &*slot })
    }

    /// Runs `f` with this thread's slot, its id and `arg`: through the slot
    /// cache, else through the thread id (which then fills the cache).
    #[inline(always)]
    pub(super) fn with_local<A, R>(&self, arg: A, f: impl FnOnce(&Local<T>, usize, A) -> R) -> R {
        match self.cached_local() {
            Some(local) => f(local, thread_id::cached_id(), arg),
            None => self.with_local_uncached(arg, f),
        }
    }

    #[cold]
    #[inline(never)]
    fn with_local_uncached<A, R>(&self, arg: A, f: impl FnOnce(&Local<T>, usize, A) -> R) -> R {
        thread_id::with_current(arg, |id, arg| {
            let local = self.local(id);
            if self.slot_cache {
                thread_id::cache_slot(self.key, id, ptr::from_ref(local).cast());
            }
            f(local, id, arg)
        })
    }

    /// Steps 2–4 of Get, inside the caller's pin. Nothing here can unwind
    /// (no allocation, no user code) once an item is in hand.
    #[inline(never)]
    fn get_slow(
        &self,
        pin: &mut Pinned<'_, T>,
        id: usize,
        own_head_tried: bool,
        found: &mut Private<T>,
    ) -> Event {
        // 2. Own shared, at the head (most recently put), unless the fast
        //    path just found it empty in this operation.
        // SAFETY: `pop_own_head` returns true only when it wrote an item;
        // we are inside an operation of the slot's owner.
        if !own_head_tried && unsafe { found.fill_with(|out| Self::pop_own_head(pin.local, out)) } {
            return Event::SharedHit;
        }
        // Our chain is empty (only we push to it): unmark it for thieves.
        self.marks.clear(Mark::Shared, id);
        // 3. Other threads' shared, at the tail, starting after our slot.
        for (other_id, other) in self.marked_slots(Mark::Shared, id + 1) {
            if other_id == id {
                continue;
            }
            #[cfg(not(victim_pool_mutant = "steal_from_head"))]
            let stolen = Self::pop_tail_of(&other.shared, found);
            // MUTANT (verification/): steals the newest item, at the head.
            #[cfg(victim_pool_mutant = "steal_from_head")]
            let stolen = {
                let chain = other.shared.load(Ordering::Acquire);
                // SAFETY: none; the mutant breaks the single-producer
                // contract of the other slot's chain on purpose.
                !chain.is_null() && unsafe { found.fill_with(|out| (*chain).pop_head_into(out)) }
            };
            if stolen {
                return Event::StealHit;
            }
        }
        // MUTANT (verification/): never looks at the victim generation.
        if cfg!(victim_pool_mutant = "get_skips_victim") {
            return Event::Miss;
        }
        // 4. The victim, unless a Get found it empty since the last cleanup:
        //    own private, then every slot's shared tail from ours.
        // Acquire pairs with cleanup's Release increment: the epoch read
        // here is no newer than the swaps this Get sees.
        let epoch = self.victim_epoch.load(Ordering::Acquire);
        let exhausted_mark = epoch.wrapping_add(1);
        if epoch % 2 == 0 && self.victim_exhausted.load(Ordering::Relaxed) == exhausted_mark {
            return Event::Miss;
        }
        if let Some(value) = pin
            .with_owned(|owned, _| owned.victim_private.take())
            .flatten()
        {
            found.put(value);
            return Event::VictimHit;
        }
        if self
            .marked_slots(Mark::Victim, id)
            .any(|(_, local)| Self::pop_tail_of(&local.victim, found))
        {
            Event::VictimHit
        } else {
            // Only a scan of one whole generation proves it empty: no
            // cleanup began (odd epoch) or ended meanwhile. Relaxed: if
            // the scan read any chain a running cleanup swapped in, its
            // Acquire load of that pointer already orders this load after
            // the cleanup's odd increment; and a mark written from a
            // stale read names an older epoch, which only Gets that read
            // that same epoch (overlapping the cleanup) consult.
            if epoch % 2 == 0 && self.victim_epoch.load(Ordering::Relaxed) == epoch {
                self.victim_exhausted
                    .store(exhausted_mark, Ordering::Relaxed);
            }
            Event::Miss
        }
    }

    /// New, counted for slot `local`, outside any operation.
    #[cold]
    pub(super) fn new_item(&self, local: &Local<T>) -> T {
        let Some(new_fn) = &self.hooks.new_fn else {
            panic!("Pool::get on a pool built without new_fn; use Pool::try_get");
        };
        local.stats.record(Event::NewCall);
        new_fn()
    }

    /// Steals the oldest item of `chain` into the empty `found`; true if
    /// there was one.
    fn pop_tail_of(chain: &AtomicPtr<PooledChain<T>>, found: &mut Private<T>) -> bool {
        // Acquire pairs with the Release that installed the chain (owner's
        // CAS or cleanup's swap).
        let chain = chain.load(Ordering::Acquire);
        // SAFETY:
        // - the caller is pinned, so the chain is not freed before the pin
        //   ends (DESIGN.md §6.2, grace periods);
        // - `pop_tail_into` returns true only when it wrote an item.
        !chain.is_null() && unsafe { found.fill_with(|out| (*chain).pop_tail_into(out)) }
    }

    /// Go's Put, as the owner of `local`. The reset hook has already run.
    /// `HOOKED`: false only when `put_is_plain` (no chaos, no bound).
    #[inline(always)]
    pub(super) fn put_in<const HOOKED: bool>(&self, local: &Local<T>, id: usize, value: T) {
        if HOOKED && self.hooks.chaos && crate::chaos::one_in_four() {
            local.stats.record(Event::ChaosDrop);
            // Outside any operation: the drop may use the pool.
            drop(value);
            return;
        }
        // The operation ends, then what it released or refused is dropped.
        local.operate(|pin| self.put_op::<HOOKED>(pin, id, value));
    }

    /// Go's Put inside an operation of slot `id`.
    #[inline(always)]
    fn put_op<const HOOKED: bool>(&self, pin: &mut Pinned<'_, T>, id: usize, value: T) {
        // Straight into the private slot if it is free: nothing between
        // the pin and that store can unwind, so the item is never held
        // where an unwind would drop it inside the operation.
        if (!HOOKED || self.hooks.max_per_thread != Some(0)) && pin.private_is_free() {
            pin.put_private(value);
            return;
        }
        // From here the item lives in the leftovers until it lands in
        // the pool: if the Put refuses it or unwinds, it is dropped
        // after the operation has ended.
        pin.leftovers.keep(value);
        self.put_shared(pin, id);
    }

    /// Go's Put through slot `local` (id `id()`) for a pool with
    /// `put_is_plain`: a free private field is the whole operation;
    /// anything else goes on inside the same operation.
    #[inline(always)]
    pub(super) fn put_fast(&self, local: &Local<T>, id: impl FnOnce() -> usize, value: T) {
        debug_assert!(self.put_is_plain);
        let entry = local.enter();
        let private_full = match local.owned_if_current(entry, |owned| owned.private.is_none()) {
            Some(true) => {
                local.put_private(entry, value);
                local.exit(entry);
                return;
            }
            current => current.is_some(),
        };
        self.put_resumed(local, entry, id(), private_full, value);
    }

    #[cold]
    #[inline(never)]
    fn put_resumed(&self, local: &Local<T>, entry: Entry, id: usize, private_full: bool, value: T) {
        // The private field is taken (and `owned` current): the head segment
        // of the slot's chain, if it has room. No growth, so nothing can
        // unwind and the item needs no leftovers.
        let value = if private_full {
            // Relaxed: a chain pointer here was installed by us or by a
            // previous owner of this slot (ordered by the id lease); a stale
            // one is a chain a cleanup is retiring, which our operation keeps
            // alive, and a push into it is a Put before that cleanup. Null
            // goes on to `put_shared`, whose Acquire load orders the mark
            // after a cleanup's swap.
            let shared = local.shared.load(Ordering::Relaxed);
            if shared.is_null() {
                value
            } else {
                // SAFETY: inside our operation (the chain outlives it) and we
                // own the slot, so we are the chain's only producer.
                match unsafe { (*shared).push_head_in_place(value) } {
                    Ok(()) => {
                        // After the push, so a thief that sees the mark sees
                        // the item.
                        self.marks.set(Mark::Shared, id);
                        local.exit(entry);
                        return;
                    }
                    Err(value) => value,
                }
            }
        } else {
            value
        };
        local.resume(entry, |pin| self.put_op::<false>(pin, id, value));
    }

    /// Go's Put for the calling thread, for a pool with `put_is_plain`.
    #[inline(always)]
    pub(super) fn put_current(&self, value: T) {
        match self.cached_local() {
            Some(local) => self.put_fast(local, thread_id::cached_id, value),
            None => self.put_uncached(value),
        }
    }

    #[cold]
    #[inline(never)]
    fn put_uncached(&self, value: T) {
        self.with_local_uncached(value, |local, id, value| {
            self.put_in::<false>(local, id, value);
        });
    }

    /// Put's overflow path: the slot's shared chain, or a refusal at the
    /// bound (the item stays in the leftovers).
    #[inline(never)]
    fn put_shared(&self, pin: &mut Pinned<'_, T>, id: usize) {
        let local = pin.local;
        let mut shared = local.shared.load(Ordering::Acquire);
        if let Some(bound) = self.hooks.max_per_thread {
            let mut held = pin.private_held();
            if !shared.is_null() {
                // SAFETY: pinned, and we are the chain's producer (get_slow).
                held += unsafe { (*shared).len() };
            }
            if held >= bound {
                local.stats.record(Event::BoundDrop);
                // MUTANT (verification/) `drop_inside_operation`: the old
                // code dropped the refused item here, inside the operation.
                #[cfg(victim_pool_mutant = "drop_inside_operation")]
                drop(pin.leftovers.take_last());
                return;
            }
        }
        if shared.is_null() {
            before_chain_allocation();
            let fresh = Box::into_raw(Box::new(PooledChain::empty()));
            // Only the owner installs chains, so this cannot fail while a
            // cleanup's swap can only turn null into null. A CAS rather than
            // a store keeps every write to `shared` a read-modify-write,
            // which loom models soundly (tokio-rs/loom#254: a plain store
            // racing an RMW). Release pairs with the Acquire loads of
            // thieves and cleanup's swap.
            // Failure Relaxed: it cannot fail (see above).
            shared = match local.shared.compare_exchange(
                ptr::null_mut(),
                fresh,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => fresh,
                Err(installed) => {
                    // SAFETY: `fresh` was never published.
                    drop(unsafe { Box::from_raw(fresh) });
                    installed
                }
            };
        }
        // SAFETY: pinned (the chain outlives the op) and we own the slot,
        // so we are the chain's single producer. `push_head_from` takes the
        // item only once it has room for it, so a panicking segment
        // allocation leaves it in the leftovers.
        unsafe { (*shared).push_head_from(pin.leftovers) };
        // After the push, so a thief that sees the mark sees the item.
        self.marks.set(Mark::Shared, id);
    }
}

impl<T> Drop for PoolShared<T> {
    fn drop(&mut self) {
        let buckets: Vec<Box<[CachePadded<Local<T>>]>> = self
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(bucket, slots)| {
                let slots = slots.load(Ordering::Relaxed);
                // SAFETY:
                // - installed by `allocate_bucket` from a boxed slice of
                //   `2^bucket` slots, taken back only here, once;
                // - `&mut self`: no operation is in progress.
                (!slots.is_null()).then(|| unsafe {
                    Box::from_raw(ptr::slice_from_raw_parts_mut(slots, 1 << bucket))
                })
            })
            .collect();
        // Taken back first, dropped after: if a `T::drop` panics, the `Vec`
        // still drops the other buckets. `Local::drop` leaks the contents of
        // a slot frozen inside an operation by a `fork`.
        drop(buckets);
    }
}
