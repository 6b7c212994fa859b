//! The executable specification of `victim-pool`.
//!
//! This crate is the *simple, obviously correct* version of the lock-free
//! [`victim_pool`] crate: every structure is a plain collection behind one
//! [`Mutex`](std::sync::Mutex), written in the same order as the prose that
//! describes it. It exists to be read and to be tested against:
//!
//! - [`Pool`] — Go's `sync.Pool`: per-slot `{ private, shared }` for the
//!   primary and the victim generation, plus New. Its doc comments are the
//!   normative semantics of `victim_pool::Pool`.
//! - [`dequeue::PoolDequeue`] — Go's `poolDequeue`: a bounded deque, "full"
//!   at capacity.
//! - [`chain::PoolChain`] — Go's `poolChain`: an unbounded deque.
//! - [`api`] — the traits both implementations implement, so a test, model
//!   or benchmark is written once and run against either. Slots are
//!   explicit ([`api::SlotPool::get_as`] and friends), so one thread can
//!   replay a history of `(slot, operation)` pairs deterministically on both.
//!
//! # The contract
//!
//! **Sequentially** — one operation at a time, whatever thread or slot it
//! acts as — the lock-free crate must give *exactly* the results of this
//! one: the same item from every Get, the same New calls, the same items
//! dropped by the same Put or cleanup. `tests/` checks this on random
//! histories.
//!
//! **Concurrently**, each operation of the lock-free crate behaves like the
//! specification's operation at some instant between its call and return,
//! *except* for the divergences listed on each type
//! ([`Pool`](Pool#allowed-concurrent-divergences),
//! [`PoolDequeue`](dequeue::PoolDequeue#allowed-concurrent-divergences),
//! [`PoolChain`](chain::PoolChain#allowed-concurrent-divergences)). Those
//! lists are closed: a concurrent behaviour that is neither a serial
//! behaviour nor listed there is a bug in the lock-free crate (or in this
//! specification).
//!
//! Nothing here is tuned: no `unsafe`, no atomics, no padding, a
//! `BTreeMap` where the real pool has a lock-free slot table. Speed is not a
//! goal; clarity is.

pub mod api;
pub mod chain;
pub mod dequeue;
mod lockfree;
mod pool;
mod thread_slot;

pub use pool::{cleanup_all, Pool, PoolBuilder, PoolGuard, SlotHandle};
pub use thread_slot::current_slot;
