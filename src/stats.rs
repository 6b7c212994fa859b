//! Per-pool statistics, readable at any time without stopping the pool.
//!
//! Each slot counts its own operations in its own cache line; only the
//! slot's owner writes those counters, so an increment is a plain load and
//! store (no read-modify-write, no contention). A Put that lands in the
//! private slot counts nothing at all: the slot's `pin` already counts its
//! operations, so such Puts are what remains of them once every Get and
//! every other Put is counted. Reading sums the slots with Relaxed loads: a
//! snapshot, exact once the pool is quiescent.

use crate::sync::{AtomicU64, Ordering};

/// Where a Get found its object, or what happened to a Put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    PrivateHit,
    SharedHit,
    StealHit,
    VictimHit,
    /// A Get that found nothing (inside an operation).
    Miss,
    /// A Get that chaos mode made ignore the pool (no operation).
    ChaosMiss,
    NewCall,
    BoundDrop,
    /// A Put that chaos mode dropped (no operation).
    ChaosDrop,
    /// Items an owner released itself when it caught up with cleanups that
    /// found it inside an operation (they count as `cleanup_drops`).
    CatchUpDrop,
}

const EVENTS: usize = 10;

/// One slot's counters. Written only by the slot's owner.
#[derive(Debug)]
pub(crate) struct SlotStats {
    counts: [AtomicU64; EVENTS],
}

impl SlotStats {
    pub(crate) fn new() -> Self {
        Self {
            counts: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Counts `event`. Only the slot's owner may call it (single writer).
    #[inline(always)]
    pub(crate) fn record(&self, event: Event) {
        self.record_n(event, 1);
    }

    /// Counts `n` of `event` (single writer, as [`record`](Self::record)).
    #[inline(always)]
    pub(crate) fn record_n(&self, event: Event, n: u64) {
        let counter = &self.counts[event as usize];
        counter.store(
            counter.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn read(&self, event: Event) -> u64 {
        self.counts[event as usize].load(Ordering::Relaxed)
    }
}

/// A snapshot of a pool's counters ([`Pool::stats`](crate::Pool::stats)).
///
/// The counters add up. Every Get counts exactly one of `private_hits`,
/// `shared_hits`, `steal_hits`, `victim_hits` or `misses` (their sum is
/// [`gets`](Self::gets), the hits alone are [`hits`](Self::hits));
/// `new_calls` counts the misses that called New (`get`, not `try_get`).
/// Every Put counts in `puts`, and an item refused or dropped by it counts
/// in exactly one of `refused` (`keep_if`), `bound_drops` (`max_per_thread`)
/// or `chaos_drops`; the rest were pooled ([`pooled`](Self::pooled)). An
/// item the pool took leaves it by a hit or a cleanup, so, once the pool
/// is quiescent (no Get or Put in progress),
///
/// ```text
/// puts = refused + bound_drops + chaos_drops + hits + cleanup_drops + held
/// ```
///
/// where [`held`](Self::held) is what the pool holds now. A Put whose
/// reset hook or `keep_if` panicked is not counted (its item was dropped
/// before the Put began).
///
/// ```
/// use victim_pool::Pool;
///
/// let pool = Pool::builder()
///     .new_fn(Vec::<u8>::new)
///     .keep_if(|buf: &Vec<u8>| buf.capacity() <= 1024)
///     .manual_cleanup()
///     .build();
/// let small = pool.get(); // a miss: New
/// pool.put(small); // pooled
/// pool.put(Vec::with_capacity(4096)); // refused by keep_if
/// let small = pool.get(); // a hit
/// pool.put(small); // pooled again
/// let stats = pool.stats();
/// assert_eq!((stats.gets(), stats.hits(), stats.new_calls), (2, 1, 1));
/// assert_eq!((stats.puts, stats.refused, stats.pooled()), (3, 1, 2));
/// assert_eq!(stats.held(), 1); // 3 = 1 refused + 1 hit + 1 held
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Gets served by the calling thread's private slot.
    pub private_hits: u64,
    /// Gets served by the calling thread's shared chain (head).
    pub shared_hits: u64,
    /// Gets served by another thread's shared chain (tail).
    pub steal_hits: u64,
    /// Gets served by the victim generation.
    pub victim_hits: u64,
    /// Gets that found nothing.
    pub misses: u64,
    /// Calls to New.
    pub new_calls: u64,
    /// Puts, every one: pooled, or refused by `keep_if`, or dropped by the
    /// bound or chaos mode.
    pub puts: u64,
    /// Puts dropped because the thread already held `max_per_thread`.
    pub bound_drops: u64,
    /// Puts whose item the `keep_if` filter refused (dropped, not pooled).
    pub refused: u64,
    /// Puts dropped at random by chaos mode.
    pub chaos_drops: u64,
    /// Items dropped by cleanups: the victim generation they released,
    /// and what an owner released itself when it caught up with a cleanup
    /// that had found it inside an operation.
    pub cleanup_drops: u64,
    /// Cleanups run on this pool.
    pub cleanups: u64,
    /// Cleanups whose heavy fence the kernel refused: they completed in the
    /// fail-closed way (no private item rotated by them, nothing freed until
    /// a later fence succeeds; DESIGN.md §6.4).
    pub fence_failures: u64,
    /// Cleanups of this pool during which dropping a released item panicked
    /// (the panic went on to the caller, or was reported by
    /// [`Sweeper`](crate::Sweeper); the other items were still dropped).
    pub cleanup_panics: u64,
    /// Batches of unlinked chains waiting for their grace period (a thread
    /// that stays inside one operation holds back the batches retired
    /// meanwhile; their items are already released, only the chains' memory
    /// waits). Normally 0.
    pub retired_waiting: usize,
    /// Thread slots allocated (one per thread id ever used, rounded up to
    /// a bucket).
    pub slots: usize,
}

impl PoolStats {
    /// Adds one slot's counters; `operations` is how many operations the
    /// slot has completed (from its `pin`): every Get and Put but the ones
    /// chaos mode diverted.
    pub(crate) fn add_slot(&mut self, slot: &SlotStats, operations: u64) {
        let private_hits = slot.read(Event::PrivateHit);
        let pinned_gets = private_hits
            + slot.read(Event::SharedHit)
            + slot.read(Event::StealHit)
            + slot.read(Event::VictimHit)
            + slot.read(Event::Miss);
        self.private_hits += private_hits;
        self.shared_hits += slot.read(Event::SharedHit);
        self.steal_hits += slot.read(Event::StealHit);
        self.victim_hits += slot.read(Event::VictimHit);
        self.misses += slot.read(Event::Miss) + slot.read(Event::ChaosMiss);
        self.new_calls += slot.read(Event::NewCall);
        // Counters are read one after the other while the owner may be
        // counting: clamp rather than wrap in a snapshot.
        self.puts += operations.saturating_sub(pinned_gets) + slot.read(Event::ChaosDrop);
        self.bound_drops += slot.read(Event::BoundDrop);
        self.chaos_drops += slot.read(Event::ChaosDrop);
        self.cleanup_drops += slot.read(Event::CatchUpDrop);
    }

    /// All Gets counted: `hits() + misses`.
    pub fn gets(&self) -> u64 {
        self.hits() + self.misses
    }

    /// Gets that found an object in the pool.
    pub fn hits(&self) -> u64 {
        self.private_hits + self.shared_hits + self.steal_hits + self.victim_hits
    }

    /// Puts whose item went into the pool: `puts` less the ones refused or
    /// dropped.
    pub fn pooled(&self) -> u64 {
        self.puts
            .saturating_sub(self.refused + self.bound_drops + self.chaos_drops)
    }

    /// Objects the pool holds now (primary and victim generations): what
    /// was pooled, less what Gets took out and cleanups dropped. Exact when
    /// the pool is quiescent; while Gets and Puts run it is a snapshot of
    /// counters read one after the other (clamped at 0).
    pub fn held(&self) -> u64 {
        self.pooled()
            .saturating_sub(self.hits() + self.cleanup_drops)
    }
}
