//! Thread identity: the stand-in for Go's `procPin` / P id.
//!
//! Every thread that touches a pool leases a small integer id from one
//! process-wide allocator. A live thread owns its id exclusively, so it is
//! the single producer of slot `id` in every pool. When the thread exits, its
//! thread-local lease is dropped and the id returns to the allocator, which
//! hands out the *smallest* free id next: ids stay dense, so pools stay as
//! small as the number of threads alive at once. The allocator's mutex makes
//! the old owner's last access happen-before the new owner's first.
//!
//! Thread-local destructors run in an unspecified order, so a pool may be
//! used after this thread's lease is gone (from another thread-local's
//! destructor). Such calls lease a *temporary* id for the duration of one
//! operation instead; they never panic and never share an id.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::sync::{fast_thread_local, global, lazy_thread_local, lock, Mutex};

/// Sentinel for "this thread holds no lease".
const NO_ID: usize = usize::MAX;

pub(crate) struct IdAllocator {
    /// Ids below this have been handed out at least once.
    next: usize,
    /// Returned ids, smallest first.
    free: BinaryHeap<Reverse<usize>>,
    /// Per id below `next`, the thread that leased it last (its
    /// [`holder_token`]): a `fork` child keeps the ids its one thread holds,
    /// however many (a `LocalHandle` keeps an id past
    /// `release_thread_slot`).
    #[cfg(all(unix, not(any(loom, shuttle, miri))))]
    holders: Vec<usize>,
}

impl IdAllocator {
    const fn new() -> Self {
        Self {
            next: 0,
            free: BinaryHeap::new(),
            #[cfg(all(unix, not(any(loom, shuttle, miri))))]
            holders: Vec::new(),
        }
    }

    fn allocate(&mut self) -> usize {
        let id = match self.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                let id = self.next;
                self.next += 1;
                id
            }
        };
        #[cfg(all(unix, not(any(loom, shuttle, miri))))]
        {
            if self.holders.len() <= id {
                self.holders.resize(id + 1, 0);
            }
            self.holders[id] = holder_token();
        }
        id
    }

    /// The ids leased now (not free), in order.
    #[cfg(all(unix, not(any(loom, shuttle, miri))))]
    fn leased(&self) -> impl Iterator<Item = usize> + '_ {
        let free: std::collections::HashSet<usize> = self.free.iter().map(|id| id.0).collect();
        (0..self.next).filter(move |id| !free.contains(id))
    }
}

/// Identifies the calling thread among the live threads of the process,
/// and survives `fork` in the forking thread (`pthread_self`). A thread
/// that has exited may share its token with a later one: the allocator
/// then counts that thread's leftover ids as the later thread's, which
/// can only keep memory after a fork, never free it early.
#[cfg(all(unix, not(any(loom, shuttle, miri))))]
fn holder_token() -> usize {
    // SAFETY: `pthread_self` has no preconditions and touches no memory.
    unsafe { libc::pthread_self() as usize }
}

global! {
    /// The process-wide id allocator.
    static ALLOCATOR: Mutex<IdAllocator> = Mutex::new(IdAllocator::new());
}

fast_thread_local! {
    /// This thread's id while its lease is alive, else `NO_ID`. Read by
    /// every pool operation that misses the slot cache; written only by
    /// `set_current`; const-initialised and destructor-free, so it stays
    /// readable during thread-local teardown.
    static CURRENT: Cell<usize> = Cell::new(NO_ID);
}

/// Entries of [`SLOT_CACHE`]: direct-mapped by pool key, so a thread that
/// alternates between a few pools keeps each one's slot.
const SLOT_CACHE_WAYS: usize = 4;

/// One entry of [`SLOT_CACHE`]: a pool key (0: empty) and the address of
/// this thread's slot in that pool.
struct CachedSlot {
    pool: Cell<u64>,
    slot: Cell<*const ()>,
}

/// This thread's slots in the pools it used last, so a Get or Put that
/// hits skips the id and bucket lookup (DESIGN.md §5.2).
/// Every entry is a slot of the id in [`CURRENT`]: [`set_current`], the one
/// writer of `CURRENT`, empties the cache whenever the id changes.
struct SlotCache([CachedSlot; SLOT_CACHE_WAYS]);

impl SlotCache {
    const fn new() -> Self {
        Self(
            [const {
                CachedSlot {
                    pool: Cell::new(0),
                    slot: Cell::new(core::ptr::null()),
                }
            }; SLOT_CACHE_WAYS],
        )
    }

    #[inline(always)]
    fn entry(&self, pool: u64) -> &CachedSlot {
        &self.0[pool as usize % SLOT_CACHE_WAYS]
    }

    fn clear(&self) {
        for entry in &self.0 {
            entry.pool.set(0);
        }
    }
}

fast_thread_local! {
    /// See [`SlotCache`]. Const-initialised and destructor-free, like
    /// `CURRENT`.
    static SLOT_CACHE: SlotCache = SlotCache::new();
}

/// Sets this thread's id and forgets the slots of the previous one.
fn set_current(current: &Cell<usize>, id: usize) {
    current.set(id);
    // MUTANT (verification/) `slot_cache_survives_id_change`: a new id
    // keeps the cached slots of the old one, which this thread no longer
    // owns.
    if cfg!(victim_pool_mutant = "slot_cache_survives_id_change") && id != NO_ID {
        return;
    }
    // MUTANT (verification/) `slot_cache_survives_release`: a released id
    // keeps its cached slots, so this thread goes on using a slot the
    // allocator hands to another thread.
    if cfg!(victim_pool_mutant = "slot_cache_survives_release") && id == NO_ID {
        return;
    }
    let _ = SLOT_CACHE.try_with(SlotCache::clear);
}

/// This thread's slot in the pool with key `pool` (keys are never reused,
/// never 0), if cached: the address [`cache_slot`] stored with that key.
#[inline(always)]
pub(crate) fn cached_slot(pool: u64) -> Option<*const ()> {
    SLOT_CACHE
        .try_with(|cache| {
            let entry = cache.entry(pool);
            (entry.pool.get() == pool).then(|| entry.slot.get())
        })
        .ok()
        .flatten()
}

/// Caches `slot` as this thread's slot in the pool with key `pool` (not
/// 0), when `id` is this thread's own id (not a temporary lease's).
pub(crate) fn cache_slot(pool: u64, id: usize, slot: *const ()) {
    if CURRENT.try_with(Cell::get).ok() != Some(id) {
        return;
    }
    let _ = SLOT_CACHE.try_with(|cache| {
        let entry = cache.entry(pool);
        entry.pool.set(pool);
        entry.slot.set(slot);
    });
}

/// This thread's id, for an operation that found its slot in the cache
/// (which holds slots of this id only).
#[inline]
pub(crate) fn cached_id() -> usize {
    let id = CURRENT.try_with(Cell::get).unwrap_or(NO_ID);
    debug_assert_ne!(id, NO_ID, "a cached slot without a thread id");
    id
}

lazy_thread_local! {
    /// This thread's lease; dropping it (at thread exit) returns the id,
    /// unless a [`LocalHandle`](crate::LocalHandle) still holds a clone.
    static LEASE: RefCell<Option<Rc<IdLease>>> = RefCell::new(None);
}

/// Exclusive ownership of one thread id; returns the id when dropped.
#[derive(Debug)]
pub(crate) struct IdLease {
    id: usize,
}

impl IdLease {
    fn acquire() -> Self {
        Self {
            id: lock(&ALLOCATOR).allocate(),
        }
    }
}

impl Drop for IdLease {
    fn drop(&mut self) {
        // Forget the id before it can be handed to another thread.
        // The slot cache goes with it (`set_current`).
        let _ = CURRENT.try_with(|current| {
            if current.get() == self.id {
                set_current(current, NO_ID);
            }
        });
        lock(&ALLOCATOR).free.push(Reverse(self.id));
    }
}

/// Locks the allocator (for the fork handlers, which hold it across a fork).
#[cfg(all(unix, not(any(loom, shuttle, miri))))]
pub(crate) fn lock_allocator() -> crate::sync::MutexGuard<'static, IdAllocator> {
    lock(&ALLOCATOR)
}

/// The ids leased at this moment by threads other than the calling one
/// (sorted): its current id and every id it keeps through a `LocalHandle`
/// are left out. In a fork's child handler: the ids of the threads that did
/// not survive the fork. They are never returned to the allocator (their
/// threads never exit here), so they are never leased again.
#[cfg(all(unix, not(any(loom, shuttle, miri))))]
pub(crate) fn held_by_other_threads(allocator: &IdAllocator) -> Vec<usize> {
    let own = holder_token();
    allocator
        .leased()
        // MUTANT (verification/) `fork_loses_own_ids`: the forking thread's
        // own ids, whose slots its slot cache still names, count as lost.
        .filter(|&id| {
            cfg!(victim_pool_mutant = "fork_loses_own_ids") || allocator.holders[id] != own
        })
        .collect()
}

/// MUTANT (verification/) `fork_loses_handle_ids`: every leased id but the
/// calling thread's current one, as the old child handler computed it.
#[cfg(all(
    unix,
    not(any(loom, shuttle, miri)),
    victim_pool_mutant = "fork_loses_handle_ids"
))]
pub(crate) fn leased_except_current(allocator: &IdAllocator) -> Vec<usize> {
    let own = CURRENT.try_with(Cell::get).unwrap_or(NO_ID);
    allocator.leased().filter(|&id| id != own).collect()
}

/// Drops this thread's lease now instead of at thread exit.
pub(crate) fn release_current() {
    // Taken out first, dropped after the borrow ends: the drop locks the
    // allocator and touches `CURRENT`.
    let lease = LEASE
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten();
    drop(lease);
}

/// Runs `f` with this thread's id and `arg`, leasing an id on first use.
/// During thread-local teardown `f` runs under a temporary lease instead.
/// `arg` is passed apart from the closure so that only the slow path needs
/// it in memory: a large `T` put into a pool is not copied for the lookup.
#[inline(always)]
pub(crate) fn with_current<A, R>(arg: A, f: impl FnOnce(usize, A) -> R) -> R {
    let id = CURRENT.try_with(Cell::get).unwrap_or(NO_ID);
    if id != NO_ID {
        return f(id, arg);
    }
    with_new_lease(arg, f)
}

/// The slow path of [`with_current`]: leases an id (kept in the thread's
/// lease, or temporary during teardown) for the duration of `f`.
#[cold]
#[inline(never)]
fn with_new_lease<A, R>(arg: A, f: impl FnOnce(usize, A) -> R) -> R {
    let lease = current_lease();
    f(lease.id(), arg)
}

/// A lease on an id for this thread.
pub(crate) enum Lease {
    /// The thread's own lease (shared with its thread-local).
    Registered(Rc<IdLease>),
    /// A one-off lease, taken when thread-locals are already torn down.
    Temporary(IdLease),
}

impl Lease {
    pub(crate) fn id(&self) -> usize {
        match self {
            Lease::Registered(lease) => lease.id,
            Lease::Temporary(lease) => lease.id,
        }
    }
}

/// This thread's lease (leasing an id first if it has none).
#[cold]
pub(crate) fn current_lease() -> Lease {
    let registered = LEASE.try_with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(|| {
                let lease = Rc::new(IdLease::acquire());
                CURRENT.with(|current| set_current(current, lease.id));
                lease
            })
            .clone()
    });
    match registered {
        Ok(lease) => Lease::Registered(lease),
        Err(_) => Lease::Temporary(IdLease::acquire()),
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    /// The ids a `fork` child would count as lost leave out every id the
    /// forking thread holds: its current one and one kept by a handle past
    /// `release_current` (a `LocalHandle` does that). Another live
    /// thread's id is in.
    #[cfg(all(unix, not(miri)))]
    #[test]
    fn ids_kept_past_release_stay_the_calling_threads_own() {
        let kept = match current_lease() {
            Lease::Registered(lease) => lease,
            Lease::Temporary(_) => unreachable!("not in thread-local teardown"),
        };
        release_current();
        let current = current_lease().id();
        assert_ne!(current, kept.id);
        let (leased, leased_rx) = std::sync::mpsc::channel();
        let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            leased.send(current_lease().id()).unwrap();
            finish_rx.recv().unwrap();
        });
        let others_id = leased_rx.recv().unwrap();
        #[cfg(not(victim_pool_mutant = "fork_loses_handle_ids"))]
        let lost = held_by_other_threads(&lock(&ALLOCATOR));
        #[cfg(victim_pool_mutant = "fork_loses_handle_ids")]
        let lost = leased_except_current(&lock(&ALLOCATOR));
        finish.send(()).unwrap();
        other.join().unwrap();
        assert!(
            !lost.contains(&kept.id),
            "id {} is kept by this thread, yet counted lost: {lost:?}",
            kept.id
        );
        assert!(!lost.contains(&current), "{lost:?}");
        assert!(lost.contains(&others_id), "{lost:?}");
    }

    #[test]
    fn ids_are_reused_smallest_first() {
        let mut allocator = IdAllocator::new();
        assert_eq!(
            (0..3).map(|_| allocator.allocate()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        allocator.free.push(Reverse(2));
        allocator.free.push(Reverse(0));
        assert_eq!(allocator.allocate(), 0);
        assert_eq!(allocator.allocate(), 2);
        assert_eq!(allocator.allocate(), 3);
    }
}
