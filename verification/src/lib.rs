//! Checkers shared by the loom models, the shuttle scenarios and the stress
//! tests of `victim-pool`.
//!
//! - [`adversary`]: items and pool hooks (New, reset, `Drop`, `Clone`)
//!   that call back into the pool API at random, bounded by a per-thread
//!   depth, with the checks that hold whatever they do.
//! - [`ledger`]: items that count their own drops, so a test can prove
//!   conservation (every item put is got, drained or dropped by a cleanup,
//!   exactly once) and catch an item handed out after it was dropped.
//! - [`lin`]: a linearizability checker for dequeue / chain histories
//!   against the sequential specifications of `victim-pool-reference`
//!   (bounded and unbounded deques), with exactly the slack those
//!   specifications document.
//! - [`pool_model`]: a clonable sequential model of the reference `Pool`
//!   (validated against `victim_pool_reference::Pool` by
//!   `tests/differential.rs`), and a checker that finds a linearization of a
//!   concurrent pool history and compares the quiescent states.
//! - [`rng`]: a tiny deterministic generator for seeded scripts.
//! - `quarantine` (loom and shuttle builds only): the global allocator of
//!   the model-checking binaries, which delays every small free so that a
//!   freed segment or chain keeps its contents for a while and the core's
//!   use-after-free check (src/sync/trace.rs) reads the seal its `Drop`
//!   left instead of a reused block.
//!
//! The checkers are plain sequential code: they run after the threads of a
//! model have been joined, so they work the same under loom, shuttle, Miri
//! and a normal build.

#[cfg(not(loom))]
pub mod adversary;
pub mod ledger;
pub mod lin;
pub mod pool_model;
#[cfg(any(loom, shuttle))]
mod quarantine;
pub mod rng;

/// A logical clock for invocation / response stamps.
///
/// Under loom and shuttle exactly one thread runs at a time and the
/// checkers switch threads only at their own synchronisation points, so a
/// plain counter taken at call and return gives a real-time order that is
/// consistent with the schedule. Under real threads it is a `SeqCst`
/// counter, which also respects real time.
#[derive(Debug, Default)]
pub struct Clock(std::sync::atomic::AtomicU64);

impl Clock {
    /// A clock at zero.
    pub const fn new() -> Self {
        Self(std::sync::atomic::AtomicU64::new(0))
    }

    /// The next stamp.
    pub fn tick(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }
}
