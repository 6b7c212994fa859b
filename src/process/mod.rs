//! Process-wide machinery, shared by every pool of the process: the
//! registry of live pools (Go's `allPools`), `fork(2)` handling, and the
//! one background cleanup thread (the stand-in for Go's GC cadence, which
//! also runs every [`Sweeper`](crate::Sweeper)).
//!
//! Arrows point one way: `pool` uses this module; this module knows pools
//! only as [`registry::Sweep`] trait objects and never names `pool`.
//!
//! Fork safety rests on one rule: every lock of this crate is either taken
//! by the fork *prepare* handler or taken only under the fork gate
//! ([`fork::gate`]), which the handler takes for writing. So a child never
//! inherits a lock held by a thread that did not survive the fork
//! (DESIGN.md §6.5).

pub(crate) mod cleanup_thread;
pub(crate) mod fork;
pub(crate) mod registry;
