#![doc = include_str!("lib.md")]
// docs.rs (`--cfg docsrs`, see Cargo.toml): each feature- or
// platform-gated item says what it needs; the model checkers' cfgs are not
// for users.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom, shuttle))))]
#![warn(missing_docs, missing_debug_implementations)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

// The dequeue packs head and tail into one `AtomicU64`; slot marks are `AtomicU64` words.
#[cfg(not(target_has_atomic = "64"))]
compile_error!("victim-pool needs 64-bit atomics (`AtomicU64`), which this target does not have");

pub mod chain;
mod chaos;
pub mod dequeue;
// Test-only: public for the tests that arm it, not part of the documented API.
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod fault_injection;
mod pool;
mod process;
mod slot_marks;
mod stats;
mod sync;
mod thread_id;

pub use pool::{
    cleanup_all, release_thread_slot, Guard, LocalHandle, OwnedPoolGuard, Pool, PoolBuilder,
    PoolGuard, Released,
};
#[doc(hidden)]
pub use pool::{PoolSnapshot, SlotSnapshot, MAX_SIMULATED_SLOT};
#[cfg(not(any(loom, shuttle)))]
pub use process::cleanup_thread::Sweeper;
pub use process::cleanup_thread::{
    automatic_cleanup, set_automatic_cleanup, AUTOMATIC_CLEANUP_ENV,
    DEFAULT_INTERVAL as DEFAULT_CLEANUP_INTERVAL,
};
pub use stats::PoolStats;
pub use sync::{fence_mode, FenceMode};

/// The design document, rendered into the API docs.
#[doc = include_str!("../DESIGN.md")]
pub mod design {}

/// The README's Rust examples, run as doc tests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
