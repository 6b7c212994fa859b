//! `Pool`: Go's `sync.Pool` — per-thread private slots, per-thread shared
//! chains that other threads steal from, and a victim cache that lets an
//! object survive exactly one cleanup.
//!
//! One room per protocol (DESIGN.md §1 has the map):
//! - this file: the public API;
//! - [`slot`]: a thread slot and the owner's side of the owner/cleanup
//!   handshake, with the operation rule (no user code inside an operation);
//! - [`shared`]: the slots' buckets and index, Go's Get and Put;
//! - [`cleanup`]: cleanup, retirement, grace periods, fence failure;
//! - [`registry`]: every live pool, `cleanup_all`.

mod cleanup;
mod guard;
mod process_wide;
mod shared;
mod slot;

use core::fmt;
use std::sync::{Arc, Arc as LifetimeArc};

use crate::dequeue::RingSnapshot;
use crate::process::registry::{lock_registry, Sweep};
use crate::stats::PoolStats;
use crate::sync::Ordering;
use crate::thread_id::{self, Lease};

pub use cleanup::Released;
pub use guard::{Guard, OwnedPoolGuard, PoolGuard};
pub use process_wide::{cleanup_all, release_thread_slot};
use shared::{Hooks, PoolShared};
use slot::{assert_outside_operation, Local, Private};

/// Largest slot index [`Pool::as_slot`] accepts (a test hook, hidden from
/// the docs and outside semver).
#[doc(hidden)]
pub const MAX_SIMULATED_SLOT: usize = 1 << 16;

/// A picture of one thread slot ([`Pool::snapshot`]; a test hook, hidden
/// from the docs and outside semver).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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

impl<T> SlotSnapshot<T> {
    fn holds_anything(&self) -> bool {
        self.private.is_some()
            || self.victim_private.is_some()
            || self
                .shared
                .iter()
                .chain(&self.victim)
                .any(|ring| ring.head != ring.tail)
    }
}

/// Clones slot `slot`'s items in place.
fn snapshot_slot<T: Clone>(slot: usize, local: &Local<T>) -> SlotSnapshot<T> {
    // SAFETY:
    // - `&mut Pool` (caller): no Get or Put is running, and the pool is
    //   frozen, so no cleanup touches the slot or its chains until the
    //   snapshot ends: the items stay where they are while `clone` runs;
    // - chain pointers are live allocations (freed only by cleanup or with
    //   the pool).
    unsafe {
        let (private, victim_private) = local.owned.with(|owned| {
            let owned = &*owned;
            (owned.private.get().cloned(), owned.victim_private.clone())
        });
        let [shared, victim] = [&local.shared, &local.victim].map(|chain| {
            // Relaxed: every write of the pointer happened-before, through
            // `&mut Pool` or `cleanup_state`'s mutex (see above).
            let chain = chain.load(Ordering::Relaxed);
            if chain.is_null() {
                Vec::new()
            } else {
                (*chain).snapshot()
            }
        });
        SlotSnapshot {
            slot,
            private,
            victim_private,
            shared,
            victim,
        }
    }
}

/// A picture of a whole pool's internals ([`Pool::snapshot`]): for replay
/// tools, debugging and readers learning the structure (a test hook, hidden
/// from the docs and outside semver).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolSnapshot<T> {
    /// Cleanups run on this pool.
    pub cleanups: u64,
    /// Every allocated slot that holds anything, by slot index.
    pub slots: Vec<SlotSnapshot<T>>,
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
    /// Taken back (and unwrapped) only by `Drop`.
    shared: core::mem::ManuallyDrop<LifetimeArc<PoolShared<T>>>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool whose [`get`](Self::get) calls `new_fn` on a miss.
    pub fn new(new_fn: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self::builder().new_fn(new_fn).build()
    }

    /// A builder for New, a reset hook and a per-thread bound.
    pub fn builder() -> PoolBuilder<T> {
        PoolBuilder {
            hooks: Hooks::new(),
        }
    }

    fn from_hooks(hooks: Hooks<T>) -> Self {
        let shared = LifetimeArc::new(PoolShared::new(hooks));
        let sweep: LifetimeArc<dyn Sweep> = shared.clone();
        crate::process::fork::install();
        lock_registry().register(LifetimeArc::downgrade(&sweep));
        Self {
            shared: core::mem::ManuallyDrop::new(shared),
        }
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
    #[inline(always)]
    #[must_use = "the object goes back to the pool with `put` (or use `get_guard`)"]
    pub fn get(&self) -> T {
        assert_outside_operation("Pool::get");
        self.shared.get_or_new_current()
    }

    /// Go's Get with `New == nil`: the full lookup order, never New.
    #[inline(always)]
    #[must_use = "the object goes back to the pool with `put`"]
    pub fn try_get(&self) -> Option<T> {
        assert_outside_operation("Pool::try_get");
        self.shared.get_current()
    }

    /// Go's Put: runs the reset hook and the `keep_if` filter, then keeps
    /// `value` for a later Get (or drops it when this thread already holds
    /// the configured maximum).
    #[inline(always)]
    pub fn put(&self, value: T) {
        assert_outside_operation("Pool::put");
        if self.shared.put_is_plain {
            self.shared.put_current(value);
        } else {
            self.put_hooked(value);
        }
    }

    /// [`put`](Self::put) for a pool with a reset hook, a filter, a
    /// per-thread bound or chaos mode.
    #[inline(never)]
    fn put_hooked(&self, mut value: T) {
        if !self.admit(&mut value) {
            drop(value);
            return;
        }
        // The id after the hooks: they may give this thread's slot away.
        self.shared.with_local(value, |local, id, value| {
            self.shared.put_in::<true>(local, id, value);
        });
    }

    /// Like [`get`](Self::get), wrapped in a guard that puts the object back
    /// when dropped.
    pub fn get_guard(&self) -> PoolGuard<'_, T> {
        self.guard(self.get())
    }

    /// Wraps `value` in a guard that puts it into this pool when dropped.
    pub fn guard(&self, value: T) -> PoolGuard<'_, T> {
        Guard::new(self, value)
    }

    /// Like [`get_guard`](Self::get_guard), for a pool held by `Arc`: the
    /// guard owns a clone of the `Arc`, so it is `'static` and can move into
    /// a spawned thread or task (see [`OwnedPoolGuard`]).
    pub fn get_owned(self: &Arc<Self>) -> OwnedPoolGuard<T> {
        self.guard_owned(self.get())
    }

    /// Wraps `value` in an owned guard that puts it into this pool when
    /// dropped.
    pub fn guard_owned(self: &Arc<Self>, value: T) -> OwnedPoolGuard<T> {
        Guard::new(Arc::clone(self), value)
    }

    /// A snapshot of this pool's counters (hits by path, puts, drops,
    /// cleanups). Reading it does not stop or slow the pool.
    pub fn stats(&self) -> PoolStats {
        assert_outside_operation("Pool::stats");
        self.shared.stats()
    }

    /// One cleanup cycle for this pool (what Go does at each GC): the
    /// primary generation becomes the victim and the old victim is dropped.
    ///
    /// Safe to call concurrently with Get and Put on any thread; they never
    /// wait for it. Items of a thread that is inside a Get/Put at that very
    /// moment keep their private item until that thread's next operation or
    /// the next cleanup that finds it idle.
    ///
    /// # Panics
    ///
    /// If dropping a released item panics: the other released items are
    /// still dropped, the pool is consistent, and the panic is counted in
    /// [`PoolStats::cleanup_panics`].
    pub fn cleanup(&self) {
        assert_outside_operation("Pool::cleanup");
        if let Err(panic) = self.shared.cleanup_and_drop() {
            std::panic::resume_unwind(panic);
        }
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
        assert_outside_operation("Pool::cleanup_detached");
        self.shared.cleanup(&crate::process::fork::gate())
    }

    /// A handle bound to the calling thread's slot: skips the thread-local
    /// lookup on every operation.
    #[must_use]
    pub fn local(&self) -> LocalHandle<'_, T> {
        assert_outside_operation("Pool::local");
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
    /// A test hook for replay tools, hidden from the docs and outside
    /// semver.
    ///
    /// # Panics
    ///
    /// If `slot > MAX_SIMULATED_SLOT`.
    #[doc(hidden)]
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
    /// `&mut self` keeps every Get and Put out. The items are cloned in
    /// place with no lock held, so `T::clone` may use any pool API; a
    /// cleanup of this pool that arrives meanwhile (from `clone` itself,
    /// [`cleanup_all`] or another thread) is deferred and runs when the
    /// snapshot ends, before it returns. A test hook for replay tools and
    /// readers, hidden from the docs and outside semver.
    #[doc(hidden)]
    pub fn snapshot(&mut self) -> PoolSnapshot<T>
    where
        T: Clone,
    {
        assert_outside_operation("Pool::snapshot");
        let shared = &*self.shared;
        /// Ends the freeze even if a `clone` panics.
        struct Thaw<'a, T>(&'a PoolShared<T>);
        impl<T> Drop for Thaw<'_, T> {
            fn drop(&mut self) {
                drop(self.0.thaw());
            }
        }
        shared.freeze();
        let thaw = Thaw(shared);
        let slots = {
            // MUTANT (verification/): the old code cloned under the cleanup
            // lock, so a `clone` that cleaned this pool deadlocked.
            #[cfg(victim_pool_mutant = "snapshot_clones_under_lock")]
            let _held = crate::sync::lock(&shared.cleanup_state);
            shared
                .locals()
                .into_iter()
                .enumerate()
                .filter_map(|(slot, local)| Some(snapshot_slot(slot, local?)))
                .filter(SlotSnapshot::holds_anything)
                .collect()
        };
        let cleanups = shared.cleanups.load(Ordering::Relaxed);
        drop(thaw);
        PoolSnapshot { cleanups, slots }
    }

    /// Runs the reset hook and the `keep_if` filter (user code, before any
    /// operation); false when the filter refused the item, which the caller
    /// then drops. In place, so a large `T` is not copied for it.
    #[inline(always)]
    fn admit(&self, value: &mut T) -> bool {
        let hooks = &self.shared.hooks;
        if let Some(reset) = &hooks.reset {
            reset(value);
        }
        if let Some(keep_if) = &hooks.keep_if {
            if !keep_if(value) {
                self.shared.refused.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        true
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `shared` is not used after this.
        let mut shared = unsafe { core::mem::ManuallyDrop::take(&mut self.shared) };
        // `cleanup_all` and the automatic cleanup hold a pool only across a
        // cleanup's protocol, which runs no user code and ends in bounded
        // time: wait for them, then take the state out of the `Arc` — after
        // which their `Weak`s no longer upgrade — so that the pool's items
        // are dropped here, on this thread, when the `Pool` is.
        let state = loop {
            match LifetimeArc::try_unwrap(shared) {
                Ok(state) => break state,
                Err(still_shared) => {
                    shared = still_shared;
                    crate::sync::thread::yield_now();
                }
            }
        };
        drop(state);
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

/// Builds a [`Pool`] with optional New, reset hook, filter, per-thread
/// bound, cleanup interval and chaos mode.
#[must_use = "a builder does nothing until `build`"]
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

    /// Run on every value passed to [`Pool::put`] after the reset hook: an
    /// item for which it returns `false` is dropped instead of pooled
    /// (counted in [`PoolStats::refused`]). Go's users do this by hand
    /// before `Put`, for example fmt's `cap(p.buf) > 64<<10`:
    ///
    /// ```
    /// use victim_pool::Pool;
    /// let pool = Pool::builder()
    ///     .new_fn(|| Vec::<u8>::with_capacity(1024))
    ///     .reset(Vec::clear)
    ///     .keep_if(|buf: &Vec<u8>| buf.capacity() <= 64 << 10)
    ///     .build();
    /// pool.put(Vec::with_capacity(1 << 20)); // too big: dropped
    /// assert_eq!(pool.stats().refused, 1);
    /// ```
    pub fn keep_if(mut self, keep: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.hooks.keep_if = Some(Box::new(keep));
        self
    }

    /// At most `max` items held per thread slot (private + shared, primary
    /// generation); a Put beyond it drops the item. Go users ask for this
    /// in golang/go#43663 and #71076.
    pub fn max_per_thread(mut self, max: usize) -> Self {
        self.hooks.max_per_thread = Some(max);
        self
    }

    /// How often the pool is cleaned without being asked (default: every
    /// [`DEFAULT_CLEANUP_INTERVAL`](crate::DEFAULT_CLEANUP_INTERVAL)), the
    /// stand-in for Go's GC cadence: an item idle for two intervals is
    /// dropped. One background thread per process (started with the first
    /// such pool, asleep between rounds) does it for every pool; see
    /// [`manual_cleanup`](Self::manual_cleanup) to opt out.
    pub fn cleanup_interval(mut self, interval: core::time::Duration) -> Self {
        self.hooks.cleanup_interval = Some(interval.max(core::time::Duration::from_millis(1)));
        self
    }

    /// No automatic cleanup: items stay until [`Pool::cleanup`],
    /// [`cleanup_all`] or a [`Sweeper`](crate::Sweeper) releases them (or the
    /// pool is dropped). For deterministic tests and replay, and for
    /// programs that drive cleanups themselves.
    pub fn manual_cleanup(mut self) -> Self {
        self.hooks.cleanup_interval = None;
        self
    }

    /// Chaos mode, for the tests of code that uses a pool: a Put drops its
    /// item and a Get ignores the pool, each one time in four (a per-thread
    /// generator), like Go's `Put` under the race detector, so those tests
    /// catch any reliance on what the pool holds. Per pool, so it changes
    /// nothing for other pools in the build. Never in production.
    pub fn chaos(mut self, on: bool) -> Self {
        self.hooks.chaos = on;
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
            .field("keep_if", &self.hooks.keep_if.is_some())
            .field("max_per_thread", &self.hooks.max_per_thread)
            .field("cleanup_interval", &self.hooks.cleanup_interval)
            .field("chaos", &self.hooks.chaos)
            .finish()
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
    #[must_use = "the object goes back to the pool with `put`"]
    pub fn get(&self) -> T {
        assert_outside_operation("LocalHandle::get");
        let shared = &self.pool.shared;
        let new_item = || shared.new_item(self.local);
        if shared.hooks.chaos {
            shared.get_in(self.local, self.id).unwrap_or_else(new_item)
        } else {
            shared.get_fast(
                self.local,
                || self.id,
                |value| value,
                |found| found.take_or_else(new_item),
            )
        }
    }

    /// [`Pool::try_get`] through this handle's slot.
    #[inline]
    #[must_use = "the object goes back to the pool with `put`"]
    pub fn try_get(&self) -> Option<T> {
        assert_outside_operation("LocalHandle::try_get");
        let shared = &self.pool.shared;
        if shared.hooks.chaos {
            shared.get_in(self.local, self.id)
        } else {
            shared.get_fast(self.local, || self.id, Some, Private::take)
        }
    }

    /// [`Pool::put`] through this handle's slot.
    #[inline]
    pub fn put(&self, value: T) {
        assert_outside_operation("LocalHandle::put");
        let shared = &self.pool.shared;
        if shared.put_is_plain {
            shared.put_fast(self.local, || self.id, value);
        } else {
            self.put_hooked(value);
        }
    }

    /// [`put`](Self::put) for a pool with hooks, a bound or chaos mode; out
    /// of line, as in `Pool::put`, so the hooks' `&mut value` does not pin
    /// the plain path's item to memory in 8-byte pieces (which a 16-byte
    /// load then waits on).
    #[inline(never)]
    fn put_hooked(&self, mut value: T) {
        if self.pool.admit(&mut value) {
            self.pool.shared.put_in::<true>(self.local, self.id, value);
        } else {
            drop(value);
        }
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
    use crate::process::registry::Registry;

    #[test]
    fn the_registry_forgets_dropped_pools_without_any_cleanup() {
        let kept: Vec<Pool<u8>> = (0..40).map(|_| Pool::builder().build()).collect();
        let churn = if cfg!(miri) { 300 } else { 10_000 };
        for _ in 0..churn {
            drop(Pool::<u8>::builder().build());
        }
        let registered = lock_registry().len();
        assert!(
            registered <= 2 * kept.len() + Registry::MIN_PRUNE,
            "{registered} entries for {} live pools",
            kept.len()
        );
    }
}
