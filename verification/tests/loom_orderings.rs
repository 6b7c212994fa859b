//! Loom models added for `poolcheck orderings`: each targets an
//! ordering whose one-step weakening the models of `tests/loom.rs` did not
//! kill (see verification/orderings.md).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p victim-pool-verification
//! --test loom_orderings --release`.
#![cfg(loom)]

use std::sync::Arc;
use std::time::Instant;

use loom::thread;
use victim_pool::Pool;

/// Runs `f` under loom with the bound from `LOOM_MAX_PREEMPTIONS` (default
/// 3), as `tests/loom.rs` does.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(3);
    }
    let bound = builder.preemption_bound;
    let start = Instant::now();
    builder.check(f);
    eprintln!(
        "loom model {name}: preemption bound {bound:?}, {:.2?}",
        start.elapsed()
    );
}

/// An owner overflows into its shared chain while a cleanup clears the
/// slot's shared mark and swaps the chain to the victim. Once everyone is
/// done, every item left in a shared or victim chain must be reachable by
/// another slot's Get: the chain's mark is set (`slot_marks`). The owner's
/// Acquire load of `shared` in `put_shared` (and cleanup's Release swap it
/// pairs with) order cleanup's clear before the owner's set; without them
/// the owner can read its own stale bit, skip the set, and leave a chain
/// with items that no thief scans for (the reference pool would find them).
/// Harness rules as in `tests/loom.rs` (`finish_pool`).
#[test]
fn shared_mark_survives_cleanup() {
    model("shared_mark_survives_cleanup", || {
        let pool = Arc::new(Pool::<u64>::builder().build());
        let owner = {
            let pool = pool.clone();
            thread::spawn(move || {
                for i in 0..4 {
                    pool.put(i);
                }
                victim_pool::release_thread_slot();
            })
        };
        pool.cleanup();
        owner.join().unwrap();
        let mut pool = Arc::try_unwrap(pool).ok().expect("threads joined");
        let snap = pool.snapshot();
        let in_chains: usize = snap
            .slots
            .iter()
            .flat_map(|s| s.shared.iter().chain(&s.victim))
            .map(|ring| ring.slots.iter().flatten().count())
            .sum();
        // A slot that holds nothing: all it gets comes from marked chains.
        let mut stolen = 0;
        while pool.as_slot(3).try_get().is_some() {
            stolen += 1;
        }
        assert_eq!(
            stolen, in_chains,
            "an item in a chain is not reachable by another slot's Get: {snap:?}"
        );
    });
}
