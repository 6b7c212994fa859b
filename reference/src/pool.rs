//! The specification of `victim_pool::Pool` (Go's `sync.Pool`).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::mem;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::thread_slot;

type NewFn<T> = Box<dyn Fn() -> T + Send + Sync>;
type ResetFn<T> = Box<dyn Fn(&mut T) + Send + Sync>;

/// What one slot holds in one generation (Go's `poolLocal`).
struct Local<T> {
    /// One item only the slot's owner can take (Go's `private`).
    private: Option<T>,
    /// Items any slot can take (Go's `shared` poolChain). The owner pushes
    /// and pops at the back (the *head*, newest); other slots take from the
    /// front (the *tail*, oldest).
    shared: VecDeque<T>,
}

impl<T> Default for Local<T> {
    fn default() -> Self {
        Self {
            private: None,
            shared: VecDeque::new(),
        }
    }
}

/// A whole generation: the `Local` of every slot that has one, by slot
/// number (Go's `[]poolLocal` indexed by P id).
type Generation<T> = BTreeMap<usize, Local<T>>;

/// Everything the one mutex protects.
struct State<T> {
    /// The generation Puts go into (Go's `local`).
    primary: Generation<T>,
    /// What the primary generation was before the last cleanup (Go's
    /// `victim`): still handed out by Get, dropped by the next cleanup.
    victim: Generation<T>,
    /// Set by a Get that found nothing in the victim generation, cleared by
    /// cleanup: until then Gets skip the victim (Go's `getSlow` stores 0 to
    /// `victimSize` after a fruitless victim scan, "for future gets don't
    /// bother with it"), so what is left there (other slots' old private
    /// items) is out of reach, even for its own slot.
    victim_exhausted: bool,
}

/// The configuration, fixed at build time.
struct Hooks<T> {
    new_fn: Option<NewFn<T>>,
    reset: Option<ResetFn<T>>,
    max_per_thread: Option<usize>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    hooks: Hooks<T>,
}

impl<T> Shared<T> {
    /// The state. User code (New, reset, `T::drop`) never runs under this
    /// lock, so it cannot be poisoned half-way through an update.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Get without New, as slot `me`. The five steps of Go's `Get` /
    /// `getSlow`, in order; the first that finds an item wins.
    fn try_get(&self, me: usize) -> Option<T> {
        let mut state = self.lock();
        let State {
            primary,
            victim,
            victim_exhausted,
        } = &mut *state;
        // 1. Our own private item.
        if let Some(item) = primary.get_mut(&me).and_then(|l| l.private.take()) {
            return Some(item);
        }
        // 2. Our own shared queue, newest first (temporal locality).
        if let Some(item) = primary.get_mut(&me).and_then(|l| l.shared.pop_back()) {
            return Some(item);
        }
        // MUTANT (verification/): the victim before the other slots' shared
        // queues (killed by `poolcheck go-diff`: Go's own pool disagrees).
        #[cfg(victim_pool_mutant = "ref_victim_before_steal")]
        if let Some(item) = take_victim(victim, victim_exhausted, me) {
            return Some(item);
        }
        // 3. Steal the oldest item of another slot's shared queue, visiting
        //    slots from `me + 1` upwards and wrapping round (our own shared
        //    queue was just found empty, so skipping it changes nothing).
        for slot in ring_from(primary, me.wrapping_add(1)) {
            if let Some(item) = primary.get_mut(&slot).and_then(|l| l.shared.pop_front()) {
                return Some(item);
            }
        }
        // 4. The victim generation.
        #[cfg(not(victim_pool_mutant = "ref_victim_before_steal"))]
        if let Some(item) = take_victim(victim, victim_exhausted, me) {
            return Some(item);
        }
        // 5. Nothing: the caller falls back to New (see `get`).
        None
    }

    /// Put as slot `me`; the reset hook has already run. Returns the item
    /// when the bound makes Put drop it (the caller drops it outside the
    /// lock).
    fn put(&self, me: usize, item: T) -> Option<T> {
        let max = self.hooks.max_per_thread;
        let mut state = self.lock();
        let local = state.primary.entry(me).or_default();
        // 1. An empty private slot takes the item (unless the bound is 0).
        if local.private.is_none() && max != Some(0) {
            local.private = Some(item);
            return None;
        }
        // 2. With a bound, a slot already holding `max` items (private +
        //    shared, primary generation only) drops the new one.
        let held = usize::from(local.private.is_some()) + local.shared.len();
        if max.is_some_and(|max| held >= max) {
            return Some(item);
        }
        // 3. Otherwise it goes to the head of our shared queue.
        local.shared.push_back(item);
        None
    }

    /// One cleanup cycle (Go's `poolCleanup`): the primary generation
    /// becomes the victim, the old victim is returned to be dropped.
    fn cleanup(&self) -> Generation<T> {
        let mut state = self.lock();
        let primary = mem::take(&mut state.primary);
        state.victim_exhausted = false;
        mem::replace(&mut state.victim, primary)
    }
}

/// Step 4 of Get, as slot `me`: the victim generation, unless a Get already
/// found it empty since the last cleanup (`exhausted`).
fn take_victim<T>(victim: &mut Generation<T>, exhausted: &mut bool, me: usize) -> Option<T> {
    if *exhausted {
        return None;
    }
    // 4a. Our own old private item ...
    if let Some(item) = victim.get_mut(&me).and_then(|l| l.private.take()) {
        return Some(item);
    }
    // 4b. ... then the oldest item of every old shared queue, visiting slots
    //     from `me` (ours first) upwards and wrapping round. Old private
    //     items of other slots are never taken.
    for slot in ring_from(victim, me) {
        if let Some(item) = victim.get_mut(&slot).and_then(|l| l.shared.pop_front()) {
            return Some(item);
        }
    }
    // 4c. Nothing: later Gets skip the victim until the next cleanup.
    *exhausted = true;
    None
}

/// The slots of `generation` from `start` upwards, then from the lowest
/// up to `start`: Go's `(pid + i) % size` loop, over the slots that exist
/// (a slot with no `Local` has nothing to give).
fn ring_from<T>(generation: &Generation<T>, start: usize) -> Vec<usize> {
    let upwards = generation.range(start..).map(|(&slot, _)| slot);
    let wrapped = generation.range(..start).map(|(&slot, _)| slot);
    upwards.chain(wrapped).collect()
}

/// Lets [`cleanup_all`] reach pools of every item type.
trait Sweep: Send + Sync {
    fn sweep(&self);
}

impl<T: Send> Sweep for Shared<T> {
    fn sweep(&self) {
        drop(self.cleanup());
    }
}

/// Every reference pool created so far (Go's `allPools`); entries of
/// dropped pools are pruned by [`cleanup_all`].
static ALL_POOLS: Mutex<Vec<Weak<dyn Sweep>>> = Mutex::new(Vec::new());

/// One cleanup cycle for every live reference pool (what Go does at each
/// GC): see [`Pool::cleanup`].
pub fn cleanup_all() {
    let pools: Vec<Arc<dyn Sweep>> = {
        let mut all = ALL_POOLS.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|pool| pool.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    };
    // Outside the registry lock: dropped items may create or drop pools.
    for pool in pools {
        pool.sweep();
    }
}

/// The specification of `victim_pool::Pool`: Go's `sync.Pool` with a
/// victim cache, behind one mutex.
///
/// # State
///
/// Each *slot* (a thread; see [`current_slot`](crate::current_slot)) has, in
/// each of two generations, a `private` item only it can take and a `shared`
/// queue every slot can take from. Puts go into the *primary* generation;
/// [`cleanup`](Self::cleanup) turns it into the *victim* generation and drops
/// the previous victim. So an idle item survives exactly one cleanup and is
/// dropped by the second.
///
/// # Get, as slot `me`
///
/// The first of these that finds an item wins:
///
/// 1. `me`'s primary private item;
/// 2. `me`'s primary shared queue, newest item;
/// 3. the other slots' primary shared queues, oldest item, visiting slots
///    `me + 1, me + 2, …` then wrapping round to `0, 1, …, me - 1`;
/// 4. `me`'s victim private item, then every victim shared queue, oldest
///    item, visiting slots `me, me + 1, …` then wrapping round (other slots'
///    victim private items are never taken); if that finds nothing, the
///    victim generation counts as empty until the next cleanup: later Gets
///    skip this step, so items still there (other slots' victim private
///    items) are out of reach even of their own slot, and are dropped by
///    the next cleanup (Go's `getSlow` sets `victimSize` to 0);
/// 5. New ([`get`](Self::get)), or `None` ([`try_get`](Self::try_get)).
///
/// # Put, as slot `me`
///
/// The reset hook runs first, on every item (even one that is then dropped).
/// Then: into `me`'s primary private slot if it is empty (and the bound is
/// not 0); else, if a bound is set and `me` already holds that many primary
/// items (private + shared), the item is dropped; else it is pushed as the
/// newest item of `me`'s primary shared queue. (A bounded slot's shared
/// queue therefore never holds more than `max - 1` items, so an empty
/// private slot never takes a slot over its bound.)
///
/// # Cleanup
///
/// For every slot: primary (private and shared) becomes victim, unchanged;
/// the old victim items are dropped; the primary generation starts empty;
/// Gets look at the (new) victim generation again.
///
/// New, the reset hook and `T::drop` never run while the mutex is held, so
/// they may use the pool.
///
/// # Allowed concurrent divergences
///
/// Sequentially, `victim_pool::Pool` gives exactly these results. When
/// operations overlap, each behaves as above at some instant during the
/// call, except:
///
/// 1. **A Get may miss.** Its scan of the other slots (steps 3–4) is not one
///    atomic step: an item put into a slot the scan has already passed, or
///    moved to the victim by a cleanup that overlaps the scan, may be missed,
///    so the Get returns a later item, `None`, or New's value even though
///    the pool was never empty. It never returns an item twice, nor one that
///    was never put. A Get that misses this way still marks the victim
///    generation empty (step 4) if the victim generation it scanned is the
///    current one.
/// 2. **A Get overlapping a cleanup may return an item the cleanup
///    drops here.** Old victim items are freed only after every operation
///    that overlapped the cleanup has ended; such an operation may still
///    take one.
/// 3. **An operation that overlaps a cleanup cannot use its own private
///    slots.** Cleanup claims every slot's private items; an owner that finds
///    its slot claimed skips steps 1 and 4a (Get) or pushes to its shared
///    queue even if its private slot is empty (Put), and its bound check
///    then counts only the shared queue, so the slot may end up holding one
///    item over the bound.
/// 4. **A cleanup that finds a slot's owner mid-operation defers that
///    slot's private items.** They move to the victim (or are dropped, if two
///    or more cleanups were missed) at the owner's next operation or at the
///    next cleanup that finds the owner idle, instead of at this cleanup.
/// 5. **The bound counts a snapshot.** Thieves may be taking items while the
///    owner counts its shared queue, so a Put may drop an item although the
///    slot is, by then, below its bound.
pub struct Pool<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool whose [`get`](Self::get) calls `new_fn` on a miss.
    pub fn new(new_fn: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self::builder().new_fn(new_fn).build()
    }

    /// A builder for New, a reset hook and a per-thread bound. It also
    /// configures `victim_pool::Pool` through
    /// [`SlotPool::from_builder`](crate::api::SlotPool::from_builder).
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
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                primary: Generation::new(),
                victim: Generation::new(),
                victim_exhausted: false,
            }),
            hooks,
        });
        let sweep: Arc<dyn Sweep> = shared.clone();
        ALL_POOLS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&sweep));
        Self { shared }
    }
}

impl<T> Pool<T> {
    /// Get as the calling thread's slot: an item, or New's value.
    ///
    /// # Panics
    ///
    /// If the pool has no New and is empty for this slot (use
    /// [`try_get`](Self::try_get)), or if New panics.
    pub fn get(&self) -> T {
        thread_slot::with_current(|slot| self.get_as(slot))
    }

    /// Get as the calling thread's slot, without New.
    pub fn try_get(&self) -> Option<T> {
        thread_slot::with_current(|slot| self.try_get_as(slot))
    }

    /// Put as the calling thread's slot.
    pub fn put(&self, item: T) {
        thread_slot::with_current(|slot| self.put_as(slot, item));
    }

    /// Like [`get`](Self::get), in a guard that puts the item back (as the
    /// dropping thread's slot) when dropped.
    pub fn get_guard(&self) -> PoolGuard<'_, T> {
        PoolGuard {
            pool: self,
            item: Some(self.get()),
        }
    }

    /// One cleanup cycle for this pool: the primary generation becomes the
    /// victim and the old victim is dropped (after the lock is released).
    pub fn cleanup(&self) {
        drop(self.shared.cleanup());
    }

    /// A handle that acts as slot `slot`, whatever thread uses it. Any
    /// number of handles may exist; each operation is atomic under the
    /// pool's mutex.
    pub fn as_slot(&self, slot: usize) -> SlotHandle<'_, T> {
        SlotHandle { pool: self, slot }
    }

    fn get_as(&self, slot: usize) -> T {
        match self.try_get_as(slot) {
            Some(item) => item,
            // 5. New, outside the lock.
            None => match &self.shared.hooks.new_fn {
                Some(new_fn) => new_fn(),
                None => panic!("Pool::get on a pool built without new_fn; use Pool::try_get"),
            },
        }
    }

    fn try_get_as(&self, slot: usize) -> Option<T> {
        self.shared.try_get(slot)
    }

    fn put_as(&self, slot: usize, mut item: T) {
        // The reset hook runs first, outside the lock, on every item.
        if let Some(reset) = &self.shared.hooks.reset {
            reset(&mut item);
        }
        // An item over the bound is dropped here, outside the lock.
        drop(self.shared.put(slot, item));
    }
}

impl<T: Send + Default + 'static> Default for Pool<T> {
    /// A pool whose New is `T::default`.
    fn default() -> Self {
        Self::new(T::default)
    }
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        let count = |generation: &Generation<T>| -> usize {
            generation
                .values()
                .map(|l| usize::from(l.private.is_some()) + l.shared.len())
                .sum()
        };
        f.debug_struct("reference::Pool")
            .field("primary_items", &count(&state.primary))
            .field("victim_items", &count(&state.victim))
            .finish_non_exhaustive()
    }
}

/// Configures a [`Pool`] — or, through
/// [`SlotPool::from_builder`](crate::api::SlotPool::from_builder), a
/// `victim_pool::Pool`.
pub struct PoolBuilder<T> {
    hooks: Hooks<T>,
}

impl<T: Send + 'static> PoolBuilder<T> {
    /// Called by Get when every step misses.
    pub fn new_fn(mut self, new_fn: impl Fn() -> T + Send + Sync + 'static) -> Self {
        self.hooks.new_fn = Some(Box::new(new_fn));
        self
    }

    /// Run on every item passed to Put, before anything else.
    pub fn reset(mut self, reset: impl Fn(&mut T) + Send + Sync + 'static) -> Self {
        self.hooks.reset = Some(Box::new(reset));
        self
    }

    /// At most `max` primary items (private + shared) per slot; a Put beyond
    /// that drops its item.
    pub fn max_per_thread(mut self, max: usize) -> Self {
        self.hooks.max_per_thread = Some(max);
        self
    }

    /// The reference pool.
    pub fn build(self) -> Pool<T> {
        Pool::from_hooks(self.hooks)
    }

    /// The same configuration, for `victim_pool`. Cleanups happen only
    /// when asked, as in the specification.
    pub(crate) fn into_lock_free(self) -> victim_pool::PoolBuilder<T> {
        let Hooks {
            new_fn,
            reset,
            max_per_thread,
        } = self.hooks;
        let mut builder = victim_pool::Pool::builder().manual_cleanup();
        if let Some(new_fn) = new_fn {
            builder = builder.new_fn(new_fn);
        }
        if let Some(reset) = reset {
            builder = builder.reset(reset);
        }
        if let Some(max) = max_per_thread {
            builder = builder.max_per_thread(max);
        }
        builder
    }
}

impl<T> fmt::Debug for PoolBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("reference::PoolBuilder")
            .field("new_fn", &self.hooks.new_fn.is_some())
            .field("reset", &self.hooks.reset.is_some())
            .field("max_per_thread", &self.hooks.max_per_thread)
            .finish()
    }
}

/// An item from [`Pool::get_guard`]; puts itself back when dropped.
pub struct PoolGuard<'a, T> {
    pool: &'a Pool<T>,
    /// `Some` until [`into_inner`](Self::into_inner) or drop takes it.
    item: Option<T>,
}

impl<T> PoolGuard<'_, T> {
    /// Keeps the item instead of putting it back.
    pub fn into_inner(mut self) -> T {
        self.item.take().expect("the item is present until taken")
    }
}

impl<T> Deref for PoolGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.item.as_ref().expect("the item is present until taken")
    }
}

impl<T> DerefMut for PoolGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item.as_mut().expect("the item is present until taken")
    }
}

impl<T> Drop for PoolGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            self.pool.put(item);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for PoolGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("reference::PoolGuard")
            .field(&self.item)
            .finish()
    }
}

/// A [`Pool`] acting as one explicit slot ([`Pool::as_slot`]).
pub struct SlotHandle<'a, T> {
    pool: &'a Pool<T>,
    slot: usize,
}

impl<T> SlotHandle<'_, T> {
    /// [`Pool::get`] as this slot.
    pub fn get(&self) -> T {
        self.pool.get_as(self.slot)
    }

    /// [`Pool::try_get`] as this slot.
    pub fn try_get(&self) -> Option<T> {
        self.pool.try_get_as(self.slot)
    }

    /// [`Pool::put`] as this slot.
    pub fn put(&self, item: T) {
        self.pool.put_as(self.slot, item);
    }

    /// The slot this handle acts as.
    pub fn slot(&self) -> usize {
        self.slot
    }
}

impl<T> fmt::Debug for SlotHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("reference::SlotHandle")
            .field("slot", &self.slot)
            .finish()
    }
}
