//! Go's `poolCleanup`, concurrent with Get and Put: the claim handshake on
//! private fields, chain generations by pointer swap, retired chains freed
//! after a grace period, and what happens when the kernel refuses the heavy
//! fence (DESIGN.md §6).

use core::fmt;
use core::panic::AssertUnwindSafe;
use std::panic::catch_unwind;

use super::shared::PoolShared;
use super::slot::{CriticalSection, Leftovers, Local, ACTIVE, CLAIMED, ONE_CLEANUP};
use crate::chain::PooledChain;
use crate::process::fork::{self, Gate};
use crate::slot_marks::Mark;
use crate::sync::{heavy_fence, lock, MutexGuard, Ordering};

/// Cleanup's state, under the pool's cleanup mutex.
pub(super) struct CleanupState<T> {
    /// Batches of unlinked chains waiting for their grace period.
    retired: Vec<Retired<T>>,
    /// Set while `Pool::snapshot` reads items in place with the lock
    /// released (to clone them): cleanups that arrive meanwhile are counted
    /// here and run when the snapshot ends.
    pub(super) frozen: bool,
    pub(super) deferred: usize,
}

impl<T> CleanupState<T> {
    pub(super) const fn new() -> Self {
        Self {
            retired: Vec::new(),
            frozen: false,
            deferred: 0,
        }
    }
}

impl<T> CleanupState<T> {
    /// Batches waiting for their grace period.
    pub(super) fn waiting(&self) -> usize {
        self.retired.len()
    }
}

impl<T> Drop for CleanupState<T> {
    fn drop(&mut self) {
        // A batch still waiting when the pool goes, retired before a fork
        // that this process came out of, is held by an owner that did not
        // survive the fork and may have stopped halfway through a write to
        // one of its chains: it is never freed (DESIGN.md §6.5).
        let generation = fork::generation();
        for batch in &mut self.retired {
            if batch.fork_generation < generation {
                core::mem::forget(core::mem::take(&mut batch.chains));
            }
        }
    }
}

/// Old victim chains unlinked by one cleanup, freed once every operation
/// that could have loaded them has ended.
struct Retired<T> {
    /// `pin` of every slot right after a heavy fence that succeeded at or
    /// after the retirement; `None` until one has (the kernel refused the
    /// retiring cleanup's fence, so its reads of `pin` prove nothing).
    pins: Option<Vec<usize>>,
    chains: Vec<RetiredChain<T>>,
    /// `fork::generation()` at retirement: a slot whose owner was lost to a
    /// later fork while inside an operation holds this batch for ever.
    fork_generation: u64,
    /// Its items were moved out while it waits (consumers may do that at
    /// any time; only freeing the chains needs the grace period).
    drained: bool,
}

/// A chain pointer nobody can newly load; freed with its batch.
struct RetiredChain<T>(*mut PooledChain<T>);

// SAFETY: the chain itself is `Send` for `T: Send`; the pointer is only
// dereferenced by the cleanup that owns the batch (`pop_tail`, which any
// thread may call, and the free after the grace period).
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

    /// Moves the chain's items out as a consumer would.
    fn drain_into(&self, items: &mut Vec<T>) {
        // SAFETY: the chain is allocated until its batch is freed, which
        // only this cleanup (holding the lock) does; `pop_tail` is the
        // consumer side, safe beside any producer or other consumer.
        let chain = unsafe { &*self.0 };
        items.extend(core::iter::from_fn(|| chain.pop_tail()));
    }
}

impl<T> Drop for RetiredChain<T> {
    fn drop(&mut self) {
        // SAFETY:
        // - allocated by `Box::into_raw` in `put_shared`, unlinked from every
        //   slot before retirement, and retired once;
        // - a batch is dropped only after its grace period (no operation
        //   can still hold the pointer) or with the pool (`&mut`), and
        //   never when an owner lost to a fork may hold it.
        drop(unsafe { Box::from_raw(self.0) });
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
    /// The pool's `cleanup_panics` counter.
    panics: Option<std::sync::Arc<crate::sync::AtomicU64>>,
}

impl<T> Released<T> {
    pub(super) const fn nothing() -> Self {
        Self {
            batches: Vec::new(),
            items: Vec::new(),
            panics: None,
        }
    }

    /// Drops the released items here; a panicking `T::drop` is counted in
    /// the pool's stats and returned (the other items are still dropped).
    pub(super) fn drop_counted(self) -> std::thread::Result<()> {
        let panics = self.panics.clone();
        catch_unwind(AssertUnwindSafe(|| drop(self))).inspect_err(|_| {
            if let Some(panics) = panics {
                panics.fetch_add(1, Ordering::Relaxed);
            }
        })
    }

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

    fn absorb(&mut self, other: Self) {
        self.batches.extend(other.batches);
        self.items.extend(other.items);
        self.panics = self.panics.take().or(other.panics);
    }
}

impl<T> fmt::Debug for Released<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Released")
            .field("len", &self.len())
            .finish()
    }
}

impl<T> PoolShared<T> {
    /// Locks this pool's cleanup state. Only under the fork gate (the
    /// `gate` argument proves it is held): a fork waits for the lock's
    /// holder, so no child inherits it held.
    fn lock_state<'a>(&'a self, _gate: &'a Gate) -> MutexGuard<'a, CleanupState<T>> {
        lock(&self.cleanup_state)
    }

    /// Go's poolCleanup for this pool: primary → victim, old victim
    /// released. Runs no user code: what it releases is handed back. The
    /// caller holds the fork gate (`gate`) across it, not across the drops:
    /// a `fork` waits for it, so a child never starts with a cleanup half
    /// done.
    pub(super) fn cleanup(&self, gate: &Gate) -> Released<T> {
        let mut state = self.lock_state(gate);
        if state.frozen {
            state.deferred += 1;
            return Released::nothing();
        }
        let _critical = CriticalSection::enter();
        let lost = fork::lost_threads();
        // A slot whose owner was lost to a fork while inside an operation is
        // quarantined: it may have been halfway through a write to `owned`
        // or to its own chain, so nothing of it is touched again.
        let quarantined = |id: usize, local: &Local<T>| lost.contains(id) && local.frozen_active();
        let claimed: Vec<Option<&Local<T>>> = self
            .locals()
            .into_iter()
            .enumerate()
            .map(|(id, local)| local.filter(|local| !quarantined(id, local)))
            .collect();
        for local in claimed.iter().flatten() {
            // Only cleanup (holding the lock) writes `gate`. Relaxed: ordered
            // before our reads of `pin` by the heavy fence; an owner that
            // reads it touches nothing, so it needs nothing from us.
            let gate = local.gate.load(Ordering::Relaxed);
            local.gate.store(gate | CLAIMED, Ordering::Relaxed);
        }
        // Moves every claimed slot's chains down a generation (primary to
        // victim); returns the old victims.
        let swap_chains = || {
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
                let primary = local.shared.swap(core::ptr::null_mut(), Ordering::AcqRel);
                // Release pairs with the Acquire loads of Gets reaching the
                // victim. No Acquire: only cleanups write `victim`, and they
                // are serialised by `cleanup_state`'s mutex.
                let old_victim = local.victim.swap(primary, Ordering::Release);
                // For the owner's invariant check: this cleanup's count (the
                // claim bit is ours), published by the `gate` store below.
                let count =
                    (local.gate.load(Ordering::Relaxed) & !CLAIMED).wrapping_add(ONE_CLEANUP);
                local.swapped_by.store(count, Ordering::Relaxed);
                if primary.is_null() {
                    self.marks.clear(Mark::Victim, id);
                } else {
                    self.marks.set(Mark::Victim, id);
                }
                if !old_victim.is_null() {
                    unlinked.push(RetiredChain(old_victim));
                }
            }
            unlinked
        };
        // Odd: a Get scanning the victim now proves nothing about either
        // generation. Relaxed: a Get that sees one of the swaps sees this
        // through the swap's Release.
        self.victim_epoch.fetch_add(1, Ordering::Relaxed);
        #[cfg(not(victim_pool_mutant = "count_before_swap"))]
        let unlinked = swap_chains();
        // Pairs with every owner's light fence: an owner we see idle below
        // will see our claim and our swaps in its next operation. A slot
        // whose bucket we do not see after this fence belongs to a thread
        // whose first operation will see them too. If the kernel refuses
        // it, we fail closed: the reads of `pin` below prove nothing, so we
        // touch no private field and free no chain (DESIGN.md §6.4).
        #[cfg(not(any(
            victim_pool_mutant = "fence_failure_unwinds",
            victim_pool_mutant = "fence_failure_ignored"
        )))]
        let fenced = heavy_fence().is_ok();
        // MUTANT (verification/): trusts a refused fence and rotates the
        // private fields of slots that only look idle.
        #[cfg(victim_pool_mutant = "fence_failure_ignored")]
        let fenced = {
            let _refused = heavy_fence();
            true
        };
        // MUTANT (verification/): the old code unwound out of a half-done
        // cleanup when the fence failed (claims left set, chains freed by
        // the unwind).
        #[cfg(victim_pool_mutant = "fence_failure_unwinds")]
        let fenced = {
            let _unlinked_freed_on_unwind = &unlinked;
            heavy_fence()
                .expect("membarrier(PRIVATE_EXPEDITED) failed after a successful registration");
            true
        };
        let all = self.locals();
        let mut released = Vec::new();
        let pins: Vec<usize> = all
            .iter()
            .enumerate()
            .map(|(id, local)| {
                let Some(local) = local else {
                    return 0;
                };
                // Acquire pairs with the owner's Release on entry and exit.
                let pin = local.pin.load(Ordering::Acquire);
                if let Some(Some(_)) = claimed.get(id) {
                    // This cleanup's count, claim cleared.
                    let next =
                        (local.gate.load(Ordering::Relaxed) & !CLAIMED).wrapping_add(ONE_CLEANUP);
                    if fenced && pin & ACTIVE == 0 {
                        local.owned.with_mut(|owned| {
                            // SAFETY:
                            // - we claimed the slot before the heavy fence and
                            //   saw the owner idle after it, so the owner's
                            //   next entry sees the claim until our Release
                            //   store below: `owned` is ours alone meanwhile;
                            // - its last exit happened-before (Acquire above).
                            let owned = unsafe { &mut *owned };
                            let mut caught_up = Leftovers::new();
                            owned.catch_up(next, &mut caught_up);
                            released.extend(core::iter::from_fn(|| caught_up.take_last()));
                        });
                    }
                    // After the swaps and the rotation, one Release store
                    // ends the claim and publishes the count (pairs with the
                    // owner's Acquire load of `gate`): an owner that catches
                    // up with this cleanup also sees its chains swapped, so
                    // one operation never puts the private rotation and the
                    // chain swap on different sides of this cleanup. Also
                    // when the fence failed: no claim is ever left set.
                    // MUTANT (verification/) `gate_store_relaxed`.
                    #[cfg(not(victim_pool_mutant = "gate_store_relaxed"))]
                    local.gate.store(next, Ordering::Release);
                    #[cfg(victim_pool_mutant = "gate_store_relaxed")]
                    local.gate.store(next, Ordering::Relaxed);
                }
                pin
            })
            .collect();
        // MUTANT (verification/) `count_before_swap`: publishes the count
        // (and catches idle owners up) before the chain swap; a second fence
        // and pin reads keep the old victims' grace period sound, so only
        // the owners' invariant check (`swapped_by`) can tell.
        #[cfg(victim_pool_mutant = "count_before_swap")]
        let (unlinked, pins) = {
            let _ = pins;
            let unlinked = swap_chains();
            let _ = heavy_fence();
            let pins: Vec<usize> = all
                .iter()
                .map(|local| local.map_or(0, |local| local.pin.load(Ordering::Acquire)))
                .collect();
            (unlinked, pins)
        };
        // Even again, a new generation: Release pairs with the Acquire
        // loads in Get's victim step.
        self.victim_epoch.fetch_add(1, Ordering::Release);
        if !fenced {
            self.fence_failures.fetch_add(1, Ordering::Relaxed);
        }
        let generation = fork::generation();
        if fenced {
            // A successful fence starts the grace period of every batch
            // whose own fence failed: an operation that could hold one of
            // their chains either shows as active in these pins or began
            // after this fence, when the chain was already unlinked.
            for batch in state
                .retired
                .iter_mut()
                .filter(|batch| batch.pins.is_none())
            {
                batch.pins = Some(pins.clone());
            }
        }
        if !unlinked.is_empty() {
            state.retired.push(Retired {
                pins: fenced.then_some(pins),
                chains: unlinked,
                fork_generation: generation,
                drained: false,
            });
        }
        let ready = take_ready(&mut state.retired, &all, &lost, generation);
        // Batches that must wait still give their items back now: only
        // freeing the chains needs the grace period.
        for batch in state.retired.iter_mut().filter(|batch| !batch.drained) {
            batch.drained = true;
            for chain in &batch.chains {
                chain.drain_into(&mut released);
            }
        }
        self.retired_waiting
            .store(state.waiting(), Ordering::Relaxed);
        drop(_critical);
        drop(state);
        let released = Released {
            batches: ready,
            items: released,
            panics: Some(self.cleanup_panics.clone()),
        };
        self.cleanups.fetch_add(1, Ordering::Relaxed);
        self.last_cleanup
            .store(crate::process::cleanup_thread::now(), Ordering::Relaxed);
        self.cleanup_drops
            .fetch_add(released.len() as u64, Ordering::Relaxed);
        // Handed to the caller, outside the lock: `T::drop` may use the pool.
        released
    }

    /// A cleanup whose released items are dropped here; a panicking
    /// `T::drop` is counted in the stats and returned (the other items are
    /// still dropped).
    pub(super) fn cleanup_and_drop(&self) -> std::thread::Result<()> {
        self.cleanup(&fork::gate()).drop_counted()
    }

    /// Marks the pool frozen for `Pool::snapshot` (cleanups are deferred).
    pub(super) fn freeze(&self) {
        let gate = fork::gate();
        let mut state = self.lock_state(&gate);
        debug_assert!(!state.frozen, "snapshots are exclusive (`&mut Pool`)");
        state.frozen = true;
    }

    /// Ends a freeze and runs the cleanups that arrived meanwhile.
    pub(super) fn thaw(&self) -> Released<T> {
        let deferred = {
            let gate = fork::gate();
            let mut state = self.lock_state(&gate);
            state.frozen = false;
            core::mem::take(&mut state.deferred)
        };
        let mut released = Released::nothing();
        for _ in 0..deferred {
            released.absorb(self.cleanup(&fork::gate()));
        }
        released
    }
}

/// Removes the batches whose grace period is over: every slot that was
/// active at their fence has since finished that operation, or belongs to a
/// thread that did not survive the fork this process came out of while the
/// batch was retired in this process (such a thread can only hold chains
/// that existed before the fork, and never runs again).
fn take_ready<T>(
    retired: &mut Vec<Retired<T>>,
    locals: &[Option<&Local<T>>],
    lost: &fork::LostThreads,
    generation: u64,
) -> Vec<Retired<T>> {
    let (ready, waiting): (Vec<_>, Vec<_>) =
        core::mem::take(retired).into_iter().partition(|batch| {
            let Some(pins) = &batch.pins else {
                return false;
            };
            pins.iter()
                .zip(locals)
                .enumerate()
                .all(|(id, (&pin, local))| {
                    // Acquire pairs with the owner's Release on entry and exit: its
                    // use of the chains happened-before we free them.
                    // MUTANT (verification/) `cleanup_frees_victim_early`: skips the
                    // grace period.
                    pin & ACTIVE == 0
                || cfg!(victim_pool_mutant = "cleanup_frees_victim_early")
                || local.is_some_and(|local| local.pin.load(Ordering::Acquire) != pin)
                // MUTANT (verification/) `fork_pins_block`: the pin of a
                // thread lost to the fork blocks every later batch.
                || (lost.contains(id) && batch.fork_generation == generation
                    && !cfg!(victim_pool_mutant = "fork_pins_block"))
                })
        });
    *retired = waiting;
    ready
}
