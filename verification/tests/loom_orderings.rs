//! Loom models added for issue 14 (`poolcheck orderings`): each targets an
//! ordering whose one-step weakening the models of `tests/loom.rs` did not
//! kill (see verification/orderings.md).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p victim-pool-verification
//! --test loom_orderings --release`.
#![cfg(loom)]
