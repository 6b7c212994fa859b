//! `Pool`: Go's `sync.Pool` — per-thread private slots, per-thread shared
//! chains that other threads steal from, and a victim cache that lets an
//! object survive exactly one cleanup.
//!
//! See DESIGN.md for the protocols; the comments here say which rule each
//! line follows.

use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::ptr;
use std::sync::{Arc as LifetimeArc, Weak};

use crossbeam_utils::CachePadded;

use crate::chain::PoolChain;
use crate::dequeue::RingSnapshot;
use crate::slot_marks::{bucket_of, Mark, SlotMarks, BUCKETS};
use crate::stats::{Event, PoolStats, SlotStats};
use crate::sync::{
    global, heavy_fence, init_fences, light_fence, lock, AtomicBool, AtomicPtr, AtomicU64,
    AtomicUsize, Mutex, Ordering, UnsafeCell,
};
use crate::thread_id::{self, Lease};

/// Set in `Local::pin` while the owner is inside an operation.
const ACTIVE: usize = 1;

/// Largest slot index [`Pool::as_slot`] accepts.
pub const MAX_SIMULATED_SLOT: usize = 1 << 16;

/// What the owner may touch only under the claim protocol.
struct Owned<T> {
    /// Go's `private`: the primary generation's single item.
    private: Option<T>,
    /// The victim generation's `private`.
    victim_private: Option<T>,
    /// How many of the cleanups that claimed this slot the two fields
    /// above have caught up with (compared with `Local::cleanups`).
    cleanups_applied: u64,
}

impl<T> Owned<T> {
    /// Applies the cleanups this slot missed; returns the items they drop
    /// (to be dropped by the caller outside any critical section).
    #[inline]
    fn catch_up(&mut self, cleanups: u64) -> [Option<T>; 2] {
        let missed = cleanups.wrapping_sub(self.cleanups_applied);
        if missed == 0 {
            return [None, None];
        }
        self.cleanups_applied = cleanups;
        let old_victim = self.victim_private.take();
        if missed == 1 {
            self.victim_private = self.private.take();
            [old_victim, None]
        } else {
            [old_victim, self.private.take()]
        }
    }
}

/// One thread slot (Go's `poolLocal`), padded against false sharing.
struct Local<T> {
    /// `(sequence << 1) | ACTIVE`. Written only by the slot's owner: set
    /// active (Relaxed) on entry, then the light fence; cleared with the
    /// sequence advanced (Release) on exit. Read by `cleanup` (Acquire) to
    /// know whether it may touch `owned`, and to detect grace periods.
    pin: AtomicUsize,
    /// Set by `cleanup` (Relaxed, before its heavy fence) while it may
    /// touch `owned`, cleared (Release) when done. Read by the owner after
    /// its light fence (Acquire): if set, the owner leaves `owned` alone.
    claim: AtomicBool,
    /// Cleanups that claimed this slot. Written only by `cleanup` (under its
    /// lock, after swapping the slot's chains, Release); read by the owner
    /// (Acquire) to catch `owned` up. A slot first
    /// used during a cleanup is not claimed by it and is untouched by it:
    /// its chains stay primary and its private fields are not rotated, as if
    /// it had been created after that cleanup.
    cleanups: AtomicU64,
    /// Owned by the slot's owner inside an operation that saw `claim` clear,
    /// and by `cleanup` while it sees the owner idle (DESIGN.md, "Private
    /// slots").
    owned: UnsafeCell<Owned<T>>,
    /// Primary-generation chain (Go's `shared`), null until the first Put
    /// that overflows `private`. The owner installs one (Release, pairs with
    /// the Acquire loads of thieves and `cleanup`'s swap) and is its single
    /// producer; `cleanup` swaps it out; thieves load it (Acquire).
    shared: AtomicPtr<PoolChain<T>>,
    /// Victim-generation chain. Written only by `cleanup` (AcqRel swap);
    /// loaded by every Get that reaches the victim (Acquire). Only popped at
    /// the tail.
    victim: AtomicPtr<PoolChain<T>>,
    /// This slot's operation counters; written only by the owner.
    stats: SlotStats,
}

impl<T> Local<T> {
    fn new() -> Self {
        Self {
            pin: AtomicUsize::new(0),
            claim: AtomicBool::new(false),
            cleanups: AtomicU64::new(0),
            owned: UnsafeCell::new(Owned {
                private: None,
                victim_private: None,
                cleanups_applied: 0,
            }),
            shared: AtomicPtr::new(ptr::null_mut()),
            victim: AtomicPtr::new(ptr::null_mut()),
            stats: SlotStats::new(),
        }
    }

    /// Starts an operation by this slot's owner. No read-modify-write and,
    /// with membarrier, no hardware fence.
    #[inline(always)]
    fn enter(&self) -> Pinned<'_, T> {
        // Only the owner writes `pin`, so this load sees our last store.
        let idle = self.pin.load(Ordering::Relaxed);
        // Release (a plain store on x86): a cleanup that reads this value
        // (Acquire, in its grace-period check) sees the previous operation
        // as over, so that operation's reads of a retired chain must
        // happen-before the free. Since C++20 a later Relaxed store no longer
        // continues the previous exit's release sequence, so this store has
        // to release by itself (Miri caught the race).
        self.pin.store(idle | ACTIVE, Ordering::Release);
        // Pairs with `heavy_fence` in `cleanup`: either cleanup sees us
        // active, or we see its claim (Dekker).
        light_fence();
        // Acquire pairs with cleanup's Release clear of `claim`: what it did
        // to `owned` happened-before our use of it.
        let may_own = !self.claim.load(Ordering::Acquire);
        Pinned {
            local: self,
            idle,
            may_own,
        }
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        let chains = [&self.shared, &self.victim].map(|chain| {
            let chain = chain.load(Ordering::Relaxed);
            // SAFETY:
            // - chains are allocated by `Box::into_raw` in `put_in` and
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

/// An operation in progress on a slot; ends it (even on unwind) when
/// dropped.
struct Pinned<'a, T> {
    local: &'a Local<T>,
    idle: usize,
    /// True when the owner may touch `owned` in this operation.
    may_own: bool,
}

impl<T> Pinned<'_, T> {
    /// Runs `f` on the slot's `owned` fields, if this operation may touch
    /// them (the closure shape lets loom see every access).
    #[inline]
    fn with_owned<R>(&self, f: impl FnOnce(&mut Owned<T>) -> R) -> Option<R> {
        if !self.may_own {
            return None;
        }
        Some(self.local.owned.with_mut(|owned| {
            // SAFETY:
            // - `may_own`: after our light fence we saw `claim` clear, so
            //   cleanup either finished with `owned` (its Release clear
            //   happened-before) or will see us active and keep out;
            // - we are the slot's only owner (thread id lease or `&mut
            //   Pool`), and no caller nests `with_owned`, so the reference
            //   is unique for the closure's duration.
            f(unsafe { &mut *owned })
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
    }
}

/// Old victim chains unlinked by one cleanup, freed once every operation
/// that could have loaded them has ended.
struct Retired<T> {
    /// `pin` of every slot right after the cleanup's heavy fence.
    pins: Vec<usize>,
    #[allow(dead_code, reason = "freed by `RetiredChain::drop` with the batch")]
    chains: Vec<RetiredChain<T>>,
}

/// A chain pointer nobody can newly load; freed with its batch.
struct RetiredChain<T>(*mut PoolChain<T>);

// SAFETY: the chain itself is `Send` for `T: Send`; the pointer is only
// dereferenced (freed) by the cleanup that owns the batch.
unsafe impl<T: Send> Send for RetiredChain<T> {}

impl<T> RetiredChain<T> {
    /// Items still in the chain.
    ///
    /// # Safety
    ///
    /// The batch's grace period is over: nobody else uses the chain.
    unsafe fn len(&self) -> usize {
        // SAFETY: no producer or consumer is left (caller contract), so we
        // may act as the producer.
        unsafe { (*self.0).len() }
    }
}

impl<T> Drop for RetiredChain<T> {
    fn drop(&mut self) {
        // SAFETY:
        // - allocated by `Box::into_raw` in `put_in`, unlinked from every
        //   slot before retirement, and retired once;
        // - a batch is dropped only after its grace period (no operation
        //   can still hold the pointer) or with the pool (`&mut`).
        drop(unsafe { Box::from_raw(self.0) });
    }
}

type NewFn<T> = Box<dyn Fn() -> T + Send + Sync>;
type ResetFn<T> = Box<dyn Fn(&mut T) + Send + Sync>;

/// Configuration shared by every slot.
struct Hooks<T> {
    new_fn: Option<NewFn<T>>,
    reset: Option<ResetFn<T>>,
    max_per_thread: Option<usize>,
}

/// The state behind a [`Pool`].
struct PoolShared<T> {
    /// Bucket `b`: null or a leaked `Box<[CachePadded<Local<T>>]>` of `2^b`
    /// slots. Installed once by CAS (Release; loads are Acquire), freed only
    /// with the pool.
    buckets: [AtomicPtr<CachePadded<Local<T>>>; BUCKETS],
    /// One past the highest allocated slot. Raised (Release, `fetch_max`)
    /// after a bucket is installed; read (Acquire) by scans.
    slot_count: AtomicUsize,
    /// Which slots' chains may hold items (DESIGN.md §5, "The slot index").
    marks: SlotMarks,
    /// Cleanup's own state; the mutex also serialises cleanups.
    retired: Mutex<Vec<Retired<T>>>,
    /// Cleanups run and items they dropped (statistics; `fetch_add` by
    /// cleanup, Relaxed loads by `stats`).
    cleanups: AtomicU64,
    cleanup_drops: AtomicU64,
    hooks: Hooks<T>,
}

// SAFETY: `T`s move between threads through the slots (`T: Send`); every
// shared field is atomic or guarded by the protocols in DESIGN.md; the hooks
// are `Send + Sync` closures.
unsafe impl<T: Send> Send for PoolShared<T> {}
// SAFETY: as for `Send`; `&PoolShared` never hands out `&T`.
unsafe impl<T: Send> Sync for PoolShared<T> {}

impl<T> PoolShared<T> {
    fn new(hooks: Hooks<T>) -> Self {
        init_fences();
        Self {
            buckets: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            slot_count: AtomicUsize::new(0),
            marks: SlotMarks::new(),
            retired: Mutex::new(Vec::new()),
            cleanups: AtomicU64::new(0),
            cleanup_drops: AtomicU64::new(0),
            hooks,
        }
    }

    /// Slot `id`, if its bucket exists.
    #[inline]
    fn existing_local(&self, id: usize) -> Option<&Local<T>> {
        let (bucket, index) = bucket_of(id);
        // Acquire pairs with the Release CAS in `local`: the slots'
        // initialisation is visible.
        let slots = self.buckets[bucket].load(Ordering::Acquire);
        if slots.is_null() {
            return None;
        }
        // SAFETY:
        // - a non-null bucket is a live allocation of `2^bucket` slots
        //   (freed only with the pool), and `index < 2^bucket`.
        Some(unsafe { &*slots.add(index) })
    }

    /// Slot `id`, allocating its bucket on first use.
    #[inline]
    fn local(&self, id: usize) -> &Local<T> {
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
        self.slot_count
            .fetch_max((1 << (bucket + 1)) - 1, Ordering::Release);
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
        unsafe { &*slots.add(index) }
    }

    /// The slots whose `mark` chain may hold items, in Go's order: `first`,
    /// `first + 1`, … wrapping.
    fn marked_slots(&self, mark: Mark, first: usize) -> impl Iterator<Item = (usize, &Local<T>)> {
        // Acquire pairs with the Release `fetch_max` in `allocate_bucket`.
        let count = self.slot_count.load(Ordering::Acquire);
        self.marks
            .marked_from(mark, first, count)
            .filter_map(move |id| Some((id, self.existing_local(id)?)))
    }

    /// Go's Get without New, as slot `id`.
    #[inline]
    fn get_in(&self, local: &Local<T>, id: usize) -> Option<T> {
        #[cfg(feature = "chaos")]
        if crate::chaos::one_in_four() {
            local.stats.record(Event::Miss);
            return None;
        }
        let pin = local.enter();
        // Acquire pairs with cleanup's Release store: if we catch up with
        // that cleanup, we also see the chain swap it made before.
        let cleanups = local.cleanups.load(Ordering::Acquire);
        // 1. Own private (after catching up with missed cleanups).
        let (private, dropped) = pin
            .with_owned(|owned| {
                let dropped = owned.catch_up(cleanups);
                (owned.private.take(), dropped)
            })
            .unwrap_or_default();
        let (found, event) = match private {
            Some(value) => (Some(value), Event::PrivateHit),
            None => self.get_slow(&pin, id),
        };
        local.stats.record(event);
        drop(pin);
        drop(dropped);
        found
    }

    /// Steps 2–4 of Get, inside the caller's pin.
    #[inline(never)]
    fn get_slow(&self, pin: &Pinned<'_, T>, id: usize) -> (Option<T>, Event) {
        // 2. Own shared, at the head (most recently put).
        // Acquire: we installed it ourselves, but a previous owner of this
        // slot may have (its last access happened-before via the id lease).
        let shared = pin.local.shared.load(Ordering::Acquire);
        if !shared.is_null() {
            // SAFETY:
            // - the chain stays allocated while we are pinned (retired
            //   chains are freed only after every pinned op has ended);
            // - we own slot `id`, so we are its only producer.
            if let Some(value) = unsafe { (*shared).pop_head() } {
                // That may have been the last one: keep the index exact for
                // a Get that follows ours.
                // SAFETY: as above (we are the producer).
                if unsafe { (*shared).is_empty() } {
                    self.marks.clear(Mark::Shared, id);
                }
                return (Some(value), Event::SharedHit);
            }
        }
        // Our chain is empty (only we push to it): unmark it for thieves.
        self.marks.clear(Mark::Shared, id);
        // 3. Other threads' shared, at the tail, starting after our slot.
        for (other_id, other) in self.marked_slots(Mark::Shared, id + 1) {
            if other_id == id {
                continue;
            }
            #[cfg(not(victim_pool_mutant = "steal_from_head"))]
            let stolen = Self::pop_tail_of(&other.shared);
            // MUTANT (verification/): steals the newest item, at the head.
            #[cfg(victim_pool_mutant = "steal_from_head")]
            let stolen = {
                let chain = other.shared.load(Ordering::Acquire);
                // SAFETY: none; the mutant breaks the single-producer
                // contract of the other slot's chain on purpose.
                (!chain.is_null())
                    .then(|| unsafe { (*chain).pop_head() })
                    .flatten()
            };
            if let Some(value) = stolen {
                return (Some(value), Event::StealHit);
            }
        }
        // MUTANT (verification/): never looks at the victim generation.
        if cfg!(victim_pool_mutant = "get_skips_victim") {
            return (None, Event::Miss);
        }
        // 4. The victim: own private, then every slot's shared tail from ours.
        if let Some(value) = pin
            .with_owned(|owned| owned.victim_private.take())
            .flatten()
        {
            return (Some(value), Event::VictimHit);
        }
        match self
            .marked_slots(Mark::Victim, id)
            .find_map(|(_, local)| Self::pop_tail_of(&local.victim))
        {
            Some(value) => (Some(value), Event::VictimHit),
            None => (None, Event::Miss),
        }
    }

    /// Go's Get with New, as slot `id`: New runs outside the operation, so
    /// it may use the pool itself.
    #[inline]
    fn get_or_new(&self, local: &Local<T>, id: usize) -> T {
        if let Some(value) = self.get_in(local, id) {
            return value;
        }
        let Some(new_fn) = &self.hooks.new_fn else {
            panic!("Pool::get on a pool built without new_fn; use Pool::try_get");
        };
        local.stats.record(Event::NewCall);
        new_fn()
    }

    fn pop_tail_of(chain: &AtomicPtr<PoolChain<T>>) -> Option<T> {
        // Acquire pairs with the Release that installed the chain (owner's
        // store or cleanup's swap).
        let chain = chain.load(Ordering::Acquire);
        if chain.is_null() {
            return None;
        }
        // SAFETY: the caller is pinned, so the chain is not freed before the
        // pin ends (DESIGN.md, "Grace periods").
        unsafe { (*chain).pop_tail() }
    }

    /// Go's Put, as the owner of `local`. The reset hook has already run.
    #[inline]
    fn put_in(&self, local: &Local<T>, id: usize, value: T) {
        local.stats.record(Event::Put);
        #[cfg(feature = "chaos")]
        if crate::chaos::one_in_four() {
            local.stats.record(Event::ChaosDrop);
            drop(value);
            return;
        }
        let pin = local.enter();
        // Acquire pairs with cleanup's Release store: if we catch up with
        // that cleanup, we also see the chain swap it made before.
        let cleanups = local.cleanups.load(Ordering::Acquire);
        let mut value = Some(value);
        let (dropped, held) = pin
            .with_owned(|owned| {
                let dropped = owned.catch_up(cleanups);
                if owned.private.is_none() && self.hooks.max_per_thread != Some(0) {
                    owned.private = value.take();
                }
                (dropped, usize::from(owned.private.is_some()))
            })
            .unwrap_or_default();
        if let Some(value) = value {
            self.put_shared(&pin, id, value, held);
        }
        drop(pin);
        drop(dropped);
    }

    /// Put's overflow path: the slot's shared chain (or a drop at the bound).
    #[inline(never)]
    fn put_shared(&self, pin: &Pinned<'_, T>, id: usize, value: T, mut held: usize) {
        let local = pin.local;
        let mut shared = local.shared.load(Ordering::Acquire);
        if let Some(bound) = self.hooks.max_per_thread {
            if !shared.is_null() {
                // SAFETY: pinned, and we are the chain's producer (get_slow).
                held += unsafe { (*shared).len() };
            }
            if held >= bound {
                local.stats.record(Event::BoundDrop);
                drop(value);
                return;
            }
        }
        if shared.is_null() {
            let fresh = Box::into_raw(Box::new(PoolChain::empty()));
            // Only the owner installs chains, so this cannot fail while a
            // cleanup's swap can only turn null into null. A CAS rather than
            // a store keeps every write to `shared` a read-modify-write,
            // which loom models soundly (tokio-rs/loom#254: a plain store
            // racing an RMW). Release pairs with the Acquire loads of
            // thieves and cleanup's swap.
            shared = match local.shared.compare_exchange(
                ptr::null_mut(),
                fresh,
                Ordering::Release,
                Ordering::Acquire,
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
        // so we are the chain's single producer.
        unsafe { (*shared).push_head(value) };
        // After the push, so a thief that sees the mark sees the item.
        self.marks.set(Mark::Shared, id);
    }

    /// Go's poolCleanup for this pool: primary → victim, old victim dropped.
    fn cleanup(&self) -> Released<T> {
        let mut retired = lock(&self.retired);
        let claimed = self.locals();
        for local in claimed.iter().flatten() {
            // Relaxed: ordered before our reads of `pin` by the heavy fence.
            local.claim.store(true, Ordering::Relaxed);
        }
        let mut unlinked = Vec::new();
        for (id, local) in claimed.iter().enumerate() {
            let Some(local) = local else {
                continue;
            };
            // Unmark before the swap: an owner that then installs a fresh
            // chain (after the swap) marks it again after this clear.
            self.marks.clear(Mark::Shared, id);
            // AcqRel: Acquire pairs with the owner's Release install; Release
            // pairs with the Acquire loads of Gets reaching the victim.
            let primary = local.shared.swap(ptr::null_mut(), Ordering::AcqRel);
            let old_victim = local.victim.swap(primary, Ordering::AcqRel);
            if primary.is_null() {
                self.marks.clear(Mark::Victim, id);
            } else {
                self.marks.set(Mark::Victim, id);
            }
            if !old_victim.is_null() {
                unlinked.push(RetiredChain(old_victim));
            }
        }
        for local in claimed.iter().flatten() {
            // After the swaps, Release: an owner that sees the new count (and
            // so catches its private fields up) also sees its chains swapped,
            // so one operation never puts the private rotation and the chain
            // swap on different sides of this cleanup. Only cleanup (holding
            // the lock) writes it.
            let cleanups = local.cleanups.load(Ordering::Relaxed);
            local
                .cleanups
                .store(cleanups.wrapping_add(1), Ordering::Release);
        }
        // Pairs with every owner's light fence: an owner we see idle below
        // will see our claim and our swaps in its next operation. A slot
        // whose bucket we do not see after this fence belongs to a thread
        // whose first operation will see them too.
        let _fenced = heavy_fence();
        let all = self.locals();
        let mut dropped = Vec::new();
        let pins: Vec<usize> = all
            .iter()
            .enumerate()
            .map(|(id, local)| {
                let Some(local) = local else {
                    return 0;
                };
                // Acquire pairs with the owner's Release on exit.
                let pin = local.pin.load(Ordering::Acquire);
                if matches!(claimed.get(id), Some(Some(_))) {
                    if pin & ACTIVE == 0 {
                        local.owned.with_mut(|owned| {
                            // SAFETY:
                            // - we set `claim` before the heavy fence and saw
                            //   the owner idle after it, so the owner's next
                            //   entry sees the claim until our Release clear
                            //   below: `owned` is ours alone meanwhile;
                            // - its last exit happened-before (Acquire above).
                            let owned = unsafe { &mut *owned };
                            let cleanups = local.cleanups.load(Ordering::Relaxed);
                            dropped.extend(owned.catch_up(cleanups).into_iter().flatten());
                        });
                    }
                    // Release pairs with the owner's Acquire load of `claim`.
                    local.claim.store(false, Ordering::Release);
                }
                pin
            })
            .collect();
        retired.push(Retired {
            pins,
            chains: unlinked,
        });
        let ready = Self::take_ready(&mut retired, &all);
        drop(retired);
        let released = ready
            .iter()
            .flat_map(|batch| &batch.chains)
            // SAFETY: `take_ready` only returns batches whose grace period
            // is over.
            .map(|chain| unsafe { chain.len() })
            .sum::<usize>()
            + dropped.len();
        self.cleanups.fetch_add(1, Ordering::Relaxed);
        self.cleanup_drops
            .fetch_add(released as u64, Ordering::Relaxed);
        // Handed to the caller, outside the lock: `T::drop` may use the pool.
        Released {
            batches: ready,
            items: dropped,
        }
    }

    fn stats(&self) -> PoolStats {
        let mut stats = PoolStats {
            cleanups: self.cleanups.load(Ordering::Relaxed),
            cleanup_drops: self.cleanup_drops.load(Ordering::Relaxed),
            slots: self.slot_count.load(Ordering::Relaxed),
            ..PoolStats::default()
        };
        for local in self.locals().into_iter().flatten() {
            stats.add_slot(&local.stats);
        }
        stats
    }

    /// Every slot below `slot_count`, indexed by id (`None` where its
    /// bucket is not allocated).
    fn locals(&self) -> Vec<Option<&Local<T>>> {
        // Acquire pairs with the Release `fetch_max` in `allocate_bucket`.
        let count = self.slot_count.load(Ordering::Acquire);
        (0..count).map(|id| self.existing_local(id)).collect()
    }

    /// Removes the batches whose grace period is over: every slot that was
    /// active at retirement has since finished that operation.
    fn take_ready(retired: &mut Vec<Retired<T>>, locals: &[Option<&Local<T>>]) -> Vec<Retired<T>> {
        let (ready, waiting) = core::mem::take(retired).into_iter().partition(|batch| {
            batch.pins.iter().zip(locals).all(|(&pin, local)| {
                // Acquire pairs with the owner's Release on exit: its use of
                // the chains happened-before we free them.
                // MUTANT (verification/) `cleanup_frees_victim_early`:
                // skips the grace period.
                pin & ACTIVE == 0
                    || cfg!(victim_pool_mutant = "cleanup_frees_victim_early")
                    || local.is_some_and(|local| local.pin.load(Ordering::Acquire) != pin)
            })
        });
        *retired = waiting;
        ready
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
        // still drops the other buckets.
        drop(buckets);
    }
}

/// What one cleanup released: the old victim generation, no longer
/// reachable from the pool. Dropping it drops those items; it is `Send`, so
/// the caller may drop it on another thread and keep the cleanup's pause on
/// the calling thread down to unlinking (the analog of Go, whose GC frees
/// the objects after the stop-the-world, during the concurrent sweep).
#[must_use = "dropping `Released` drops the released items; use `Pool::cleanup` to drop them at once"]
pub struct Released<T> {
    batches: Vec<Retired<T>>,
    items: Vec<T>,
}

impl<T> Released<T> {
    /// Number of items released.
    pub fn len(&self) -> usize {
        let chained: usize = self
            .batches
            .iter()
            .flat_map(|batch| &batch.chains)
            // SAFETY: only batches whose grace period is over are released.
            .map(|chain| unsafe { chain.len() })
            .sum();
        chained + self.items.len()
    }

    /// True when nothing was released.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> fmt::Debug for Released<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Released")
            .field("len", &self.len())
            .finish()
    }
}

/// A picture of one thread slot ([`Pool::snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotSnapshot<T> {
    /// The slot's index (its thread id).
    pub slot: usize,
    /// Go's `private`, primary generation.
    pub private: Option<T>,
    /// `private` of the victim generation.
    pub victim_private: Option<T>,
    /// The primary shared chain's segments, oldest (tail) first; empty
    /// when the slot has no chain.
    pub shared: Vec<RingSnapshot<T>>,
    /// The victim chain's segments, oldest first.
    pub victim: Vec<RingSnapshot<T>>,
}

/// A picture of a whole pool's internals ([`Pool::snapshot`]): for replay
/// tools, debugging and readers learning the structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSnapshot<T> {
    /// Cleanups run on this pool.
    pub cleanups: u64,
    /// Every allocated slot that holds anything, by slot index.
    pub slots: Vec<SlotSnapshot<T>>,
}

/// Type-erased handle for [`cleanup_all`].
trait Sweep: Send + Sync {
    fn cleanup(&self);
}

impl<T: Send> Sweep for PoolShared<T> {
    fn cleanup(&self) {
        drop(PoolShared::cleanup(self));
    }
}

/// Every live pool (Go's `allPools`), as weak handles.
struct Registry {
    pools: Vec<Weak<dyn Sweep>>,
    /// Dropped pools are pruned when `pools` reaches this length, which is
    /// then reset to twice the live count: a program that creates and
    /// drops pools without ever cleaning keeps the registry within twice
    /// its live size, at amortised O(1) per pool.
    prune_at: usize,
}

impl Registry {
    const MIN_PRUNE: usize = 16;

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

    fn register(&mut self, pool: Weak<dyn Sweep>) {
        if self.pools.len() >= self.prune_at {
            self.prune();
        }
        self.pools.push(pool);
    }

    fn live(&mut self) -> Vec<LifetimeArc<dyn Sweep>> {
        self.prune();
        self.pools.iter().filter_map(Weak::upgrade).collect()
    }
}

global! {
    /// The process-wide registry of pools, for `cleanup_all`.
    static ALL_POOLS: Mutex<Registry> = Mutex::new(Registry::new());
}

/// Returns the calling thread's slot id to the process-wide allocator now,
/// instead of when the thread exits, so a new thread can take it over.
///
/// The items in the slot stay where they are (stealable, released by
/// cleanup, or inherited by the slot's next owner), exactly as at thread
/// exit. If the thread uses a pool again it leases an id afresh. A live
/// [`LocalHandle`] keeps its id reserved until it is dropped. Useful for a
/// thread about to sleep for a long time, and for model checkers whose
/// thread-local destructors run after the model's globals are gone.
pub fn release_thread_slot() {
    thread_id::release_current();
}

/// One cleanup cycle for every live pool (Go's `poolCleanup` at GC): each
/// pool's primary generation becomes its victim and the old victim is
/// dropped.
pub fn cleanup_all() {
    let pools = lock(&ALL_POOLS).live();
    // Cleaned outside the registry lock: dropped items may create or drop
    // pools.
    for pool in pools {
        pool.cleanup();
    }
}

/// A concurrent pool of reusable `T`s, in the image of Go's `sync.Pool`.
///
/// Each thread has a private slot and a shared chain; a thread that runs dry
/// steals from the others, then from the *victim* generation, and only then
/// calls New. [`cleanup`](Self::cleanup) (or [`cleanup_all`]) moves
/// everything to the victim and drops what was already there, so an idle
/// object survives one cleanup and is dropped by the second.
///
/// Gets and Puts are lock-free and never wait for a cleanup; a Get or Put
/// that hits the calling thread's private slot does no atomic
/// read-modify-write and no fence instruction.
///
/// ```
/// use victim_pool::Pool;
///
/// let pool = Pool::new(|| Vec::<u8>::with_capacity(1024));
/// let mut buf = pool.get();
/// buf.extend_from_slice(b"hello");
/// buf.clear();
/// pool.put(buf);
/// assert_eq!(pool.get().capacity(), 1024); // the same buffer, reused
/// ```
pub struct Pool<T> {
    shared: LifetimeArc<PoolShared<T>>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool whose [`get`](Self::get) calls `new_fn` on a miss.
    pub fn new(new_fn: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self::builder().new_fn(new_fn).build()
    }

    /// A builder for New, a reset hook and a per-thread bound.
    pub fn builder() -> PoolBuilder<T> {
        PoolBuilder {
            hooks: Hooks {
                new_fn: None,
                reset: None,
                max_per_thread: None,
            },
        }
    }

    fn from_hooks(hooks: Hooks<T>) -> Self {
        let shared = LifetimeArc::new(PoolShared::new(hooks));
        let sweep: LifetimeArc<dyn Sweep> = shared.clone();
        lock(&ALL_POOLS).register(LifetimeArc::downgrade(&sweep));
        Self { shared }
    }
}

impl<T: Send + Default + 'static> Default for Pool<T> {
    /// A pool whose New is `T::default`.
    fn default() -> Self {
        Self::new(T::default)
    }
}

impl<T> Pool<T> {
    /// Go's Get: an object from the pool, or a new one from New.
    ///
    /// # Panics
    ///
    /// If the pool was built without New (use [`try_get`](Self::try_get)),
    /// or if New panics (the pool is left unchanged).
    #[inline]
    pub fn get(&self) -> T {
        thread_id::with_current(|id| self.shared.get_or_new(self.shared.local(id), id))
    }

    /// Go's Get with `New == nil`: the full lookup order, never New.
    #[inline]
    pub fn try_get(&self) -> Option<T> {
        thread_id::with_current(|id| self.shared.get_in(self.shared.local(id), id))
    }

    /// Go's Put: runs the reset hook, then keeps `value` for a later Get
    /// (or drops it when this thread already holds the configured maximum).
    #[inline]
    pub fn put(&self, value: T) {
        let value = self.reset(value);
        thread_id::with_current(|id| self.shared.put_in(self.shared.local(id), id, value));
    }

    /// Like [`get`](Self::get), wrapped in a guard that puts the object back
    /// when dropped.
    pub fn get_guard(&self) -> PoolGuard<'_, T> {
        self.guard(self.get())
    }

    /// Wraps `value` in a guard that puts it into this pool when dropped.
    pub fn guard(&self, value: T) -> PoolGuard<'_, T> {
        PoolGuard {
            pool: self,
            value: ManuallyDrop::new(value),
        }
    }

    /// A snapshot of this pool's counters (hits by path, puts, drops,
    /// cleanups). Reading it does not stop or slow the pool.
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// One cleanup cycle for this pool (what Go does at each GC): the
    /// primary generation becomes the victim and the old victim is dropped.
    ///
    /// Safe to call concurrently with Get and Put on any thread; they never
    /// wait for it. Items of a thread that is inside a Get/Put at that very
    /// moment keep their private item until that thread's next operation or
    /// the next cleanup that finds it idle.
    pub fn cleanup(&self) {
        drop(self.shared.cleanup());
    }

    /// Like [`cleanup`](Self::cleanup), but hands back what the cycle
    /// released instead of dropping it: the caller decides where and when
    /// those items are dropped (for example on a background thread), so
    /// the pause on the calling thread is only the unlinking.
    ///
    /// ```
    /// use victim_pool::Pool;
    /// let pool = Pool::new(|| vec![0u8; 1024]);
    /// pool.put(pool.get());
    /// pool.cleanup(); // now in the victim
    /// let released = pool.cleanup_detached(); // the victim is released
    /// assert_eq!(released.len(), 1);
    /// std::thread::spawn(move || drop(released)).join().unwrap();
    /// ```
    pub fn cleanup_detached(&self) -> Released<T> {
        self.shared.cleanup()
    }

    /// A handle bound to the calling thread's slot: skips the thread-local
    /// lookup on every operation.
    pub fn local(&self) -> LocalHandle<'_, T> {
        let lease = thread_id::current_lease();
        let id = lease.id();
        LocalHandle {
            pool: self,
            local: self.shared.local(id),
            id,
            _lease: Some(lease),
        }
    }

    /// A handle that acts as slot `slot`, whatever thread calls it: lets one
    /// thread replay a multi-slot history deterministically (the reference
    /// and the differential tests use it). `&mut self` guarantees no thread
    /// is using any slot meanwhile; [`cleanup_all`] may still run.
    ///
    /// # Panics
    ///
    /// If `slot > MAX_SIMULATED_SLOT`.
    pub fn as_slot(&mut self, slot: usize) -> LocalHandle<'_, T> {
        assert!(
            slot <= MAX_SIMULATED_SLOT,
            "Pool::as_slot: slot {slot} is above MAX_SIMULATED_SLOT ({MAX_SIMULATED_SLOT})"
        );
        LocalHandle {
            pool: self,
            local: self.shared.local(slot),
            id: slot,
            _lease: None,
        }
    }

    /// Copies the pool's internal state: per slot, the private items and
    /// every segment of both chains (head, tail and each ring slot).
    ///
    /// `&mut self` keeps every Get and Put out; the call also holds the
    /// cleanup lock, so a concurrent [`cleanup_all`] waits for it.
    pub fn snapshot(&mut self) -> PoolSnapshot<T>
    where
        T: Clone,
    {
        let shared = &*self.shared;
        let _cleanup = lock(&shared.retired);
        let slots = shared
            .locals()
            .into_iter()
            .enumerate()
            .filter_map(|(slot, local)| {
                let local = local?;
                // SAFETY:
                // - `&mut Pool`: no Get or Put is running, and the cleanup
                //   lock keeps cleanups out, so nobody else touches the slot
                //   or its chains;
                // - chain pointers are live allocations (freed only by
                //   cleanup or with the pool).
                let (owned, chains) = unsafe {
                    let owned = local.owned.with(|owned| {
                        let owned = &*owned;
                        (owned.private.clone(), owned.victim_private.clone())
                    });
                    let chains = [&local.shared, &local.victim].map(|chain| {
                        let chain = chain.load(Ordering::Acquire);
                        if chain.is_null() {
                            Vec::new()
                        } else {
                            (*chain).snapshot()
                        }
                    });
                    (owned, chains)
                };
                let [shared, victim] = chains;
                let holds = owned.0.is_some()
                    || owned.1.is_some()
                    || shared
                        .iter()
                        .chain(&victim)
                        .any(|ring| ring.head != ring.tail);
                holds.then(|| SlotSnapshot {
                    slot,
                    private: owned.0,
                    victim_private: owned.1,
                    shared,
                    victim,
                })
            })
            .collect();
        PoolSnapshot {
            cleanups: shared.cleanups.load(Ordering::Relaxed),
            slots,
        }
    }

    #[inline]
    fn reset(&self, mut value: T) -> T {
        if let Some(reset) = &self.shared.hooks.reset {
            reset(&mut value);
        }
        value
    }
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("slots", &self.shared.slot_count.load(Ordering::Relaxed))
            .field("cleanups", &self.shared.cleanups.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Builds a [`Pool`] with optional New, reset hook and per-thread bound.
pub struct PoolBuilder<T> {
    hooks: Hooks<T>,
}

impl<T: Send + 'static> PoolBuilder<T> {
    /// Called by [`Pool::get`] on a miss.
    pub fn new_fn(mut self, new_fn: impl Fn() -> T + Send + Sync + 'static) -> Self {
        self.hooks.new_fn = Some(Box::new(new_fn));
        self
    }

    /// Run on every value passed to [`Pool::put`], before it is pooled (for
    /// example `Vec::clear`). If it panics, that value is dropped and the
    /// panic propagates; the pool is unchanged.
    pub fn reset(mut self, reset: impl Fn(&mut T) + Send + Sync + 'static) -> Self {
        self.hooks.reset = Some(Box::new(reset));
        self
    }

    /// At most `max` items held per thread slot (private + shared, primary
    /// generation); a Put beyond it drops the item. Go users ask for this
    /// in golang/go#43663 and #71076.
    pub fn max_per_thread(mut self, max: usize) -> Self {
        self.hooks.max_per_thread = Some(max);
        self
    }

    /// The pool.
    pub fn build(self) -> Pool<T> {
        Pool::from_hooks(self.hooks)
    }
}

impl<T> fmt::Debug for PoolBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("new_fn", &self.hooks.new_fn.is_some())
            .field("reset", &self.hooks.reset.is_some())
            .field("max_per_thread", &self.hooks.max_per_thread)
            .finish()
    }
}

/// An object from [`Pool::get_guard`]; puts itself back when dropped.
pub struct PoolGuard<'a, T> {
    pool: &'a Pool<T>,
    value: ManuallyDrop<T>,
}

impl<T> PoolGuard<'_, T> {
    /// Keeps the object instead of returning it to the pool.
    pub fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `value` is taken exactly once.
        unsafe { ManuallyDrop::take(&mut this.value) }
    }
}

impl<T> Deref for PoolGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for PoolGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for PoolGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and `into_inner` forgets `self`, so the
        // value is taken exactly once.
        let value = unsafe { ManuallyDrop::take(&mut self.value) };
        self.pool.put(value);
    }
}

impl<T: fmt::Debug> fmt::Debug for PoolGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PoolGuard").field(&*self.value).finish()
    }
}

/// A pool bound to one slot: the calling thread's ([`Pool::local`]) or an
/// explicit one ([`Pool::as_slot`]). Not `Send`: the slot belongs to this
/// thread.
pub struct LocalHandle<'a, T> {
    pool: &'a Pool<T>,
    local: &'a Local<T>,
    id: usize,
    /// What keeps the slot this handle's alone: the thread's lease (an
    /// `Rc`, so the id stays reserved while the handle lives, even past
    /// thread-local teardown) or a one-off lease taken during teardown;
    /// `None` for [`Pool::as_slot`], where `&mut Pool` does it.
    _lease: Option<Lease>,
}

impl<T> LocalHandle<'_, T> {
    /// [`Pool::get`] through this handle's slot.
    #[inline]
    pub fn get(&self) -> T {
        self.pool.shared.get_or_new(self.local, self.id)
    }

    /// [`Pool::try_get`] through this handle's slot.
    #[inline]
    pub fn try_get(&self) -> Option<T> {
        self.pool.shared.get_in(self.local, self.id)
    }

    /// [`Pool::put`] through this handle's slot.
    #[inline]
    pub fn put(&self, value: T) {
        let value = self.pool.reset(value);
        self.pool.shared.put_in(self.local, self.id, value);
    }

    /// The slot this handle acts as.
    pub fn slot(&self) -> usize {
        self.id
    }
}

impl<T> fmt::Debug for LocalHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHandle")
            .field("slot", &self.id)
            .finish()
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn the_registry_forgets_dropped_pools_without_any_cleanup() {
        let kept: Vec<Pool<u8>> = (0..40).map(|_| Pool::builder().build()).collect();
        let churn = if cfg!(miri) { 300 } else { 10_000 };
        for _ in 0..churn {
            drop(Pool::<u8>::builder().build());
        }
        let registered = lock(&ALL_POOLS).pools.len();
        assert!(
            registered <= 2 * kept.len() + Registry::MIN_PRUNE,
            "{registered} entries for {} live pools",
            kept.len()
        );
    }
}
