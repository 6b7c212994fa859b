//! Loom models for `poolcheck orderings`: each targets an ordering whose
//! one-step weakening the models of `tests/loom.rs` did not kill (see
//! verification/orderings.md). Most rely on `Lifecycle` (`src/sync.rs`),
//! which shows loom the allocation and the free of chains, segments and
//! slots.
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
    model_with_bound(name, 0, f);
}

/// [`model`] with a preemption bound of at least `at_least`: for a model
/// whose failure needs more preemptions than the tier's bound.
fn model_with_bound(name: &str, at_least: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.preemption_bound = builder.preemption_bound.map(|b| b.max(at_least));
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

/// An owner that makes two rounds of two Puts and a cleanup: the second
/// Put of each round overflows into a new shared chain, which the round's
/// cleanup turns into the victim (items 1 and 3 in victim chains).
fn spawn_owner_of_two_victim_chains(pool: &Arc<Pool<u64>>) -> thread::JoinHandle<()> {
    let pool = pool.clone();
    thread::spawn(move || {
        for round in 0..2 {
            pool.put(2 * round);
            pool.put(2 * round + 1);
            pool.cleanup();
        }
        victim_pool::release_thread_slot();
    })
}

/// A thief reaches an owner's second victim chain while the victim mark is
/// still set from the first cleanup (so the second cleanup's `set` skips its
/// Release RMW, and the mark's Acquire load synchronises only with the
/// first cleanup). What publishes the second chain's allocation to the
/// thief is then only cleanup's Release swap into `victim` and the thief's
/// Acquire load of it: without either, the thief touches a chain whose
/// allocation does not happen-before (a causality violation on the chain's
/// `Lifecycle` in `src/sync.rs`).
#[test]
fn second_victim_chain_reaches_thief() {
    model("second_victim_chain_reaches_thief", || {
        let pool = Arc::new(Pool::<u64>::builder().build());
        let owner = spawn_owner_of_two_victim_chains(&pool);
        let thief = {
            let pool = pool.clone();
            thread::spawn(move || {
                let _ = pool.try_get();
                victim_pool::release_thread_slot();
            })
        };
        owner.join().unwrap();
        thief.join().unwrap();
    });
}

/// Two threads whose slots share a bucket (ids 1 and 2, with a third thread
/// holding id 0) make their first Put at the same time: both find the
/// bucket missing, one installs it, the other's CAS fails and uses the
/// installed bucket, whose slots' allocation it must acquire (the CAS's
/// failure ordering; the slot's `Lifecycle` sees it).
#[test]
fn first_puts_race_for_a_bucket() {
    model("first_puts_race_for_a_bucket", || {
        let pool = Arc::new(Pool::<u64>::builder().build());
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let pool = pool.clone();
                thread::spawn(move || {
                    pool.put(i);
                    victim_pool::release_thread_slot();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// The grace period of a retired victim chain ends when every slot that was
/// active at the retiring cleanup's fence has moved on. A thief steals from
/// the victim chain and, preempted inside that Get, is recorded active by a
/// cleanup that retires the chain; a later cleanup then reads the thief's
/// *next* entry store and frees the chain. Only a Release entry store makes
/// the stolen Get's reads happen-before that free (a Relaxed store does not
/// continue the exit store's release sequence in C++20): without it, the
/// chain's `Lifecycle` reports the free racing the thief's use. That takes
/// 4 preemptions (a few seconds), above the quick tier's bound.
#[test]
fn grace_period_ends_at_the_next_entry() {
    model_with_bound("grace_period_ends_at_the_next_entry", 4, || {
        let pool = Arc::new(Pool::<u64>::builder().build());
        {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.put(0);
                pool.put(1);
                pool.cleanup();
                victim_pool::release_thread_slot();
            })
        }
        .join()
        .unwrap();
        let thief = {
            let pool = pool.clone();
            thread::spawn(move || {
                let _ = pool.try_get();
                let _ = pool.try_get();
                victim_pool::release_thread_slot();
            })
        };
        // Yields, not preemptions, let the thief run: the bound is left for
        // stopping it inside its first Get and between its second entry
        // store and fence (a later fence would order it with cleanup's).
        thread::yield_now();
        pool.cleanup();
        thread::yield_now();
        pool.cleanup();
        thief.join().unwrap();
    });
}

/// A cleanup meets a slot whose bucket another thread is allocating for its
/// first Put: cleanup reaches the slot through the bucket pointer only (no
/// mark, no pin yet), so the bucket's Release CAS and the Acquire load in
/// `existing_local` are all that publish the slot's allocation to it (the
/// slot's `Lifecycle` sees a use that does not happen-after it).
#[test]
fn cleanup_meets_a_fresh_slot() {
    model("cleanup_meets_a_fresh_slot", || {
        let pool = Arc::new(Pool::<u64>::builder().build());
        let owner = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.put(0);
                victim_pool::release_thread_slot();
            })
        };
        pool.cleanup();
        owner.join().unwrap();
    });
}

/// A Get that finds the victim generation empty marks it so (Go's
/// `victimSize = 0`), and later Gets of the same generation skip the
/// victim. The mark names the generation through `victim_epoch`: only an
/// Acquire load of the epoch (pairing with cleanup's Release increment)
/// makes the Get's scan see that generation's chains. Without it, a thief
/// preempted inside its Get while the owner's second cleanup runs can read
/// the new epoch, scan stale (empty) victim marks, and mark the new
/// generation exhausted: a later Get then misses the item that the owner's
/// victim chain still holds, which no order of the operations allows (the
/// reference pool would return it).
#[test]
fn victim_mark_names_the_generation_it_scanned() {
    model("victim_mark_names_the_generation_it_scanned", || {
        let pool = Arc::new(Pool::<u64>::builder().build());
        let owner = spawn_owner_of_two_victim_chains(&pool);
        let thief = {
            let pool = pool.clone();
            thread::spawn(move || {
                let got = pool.try_get();
                victim_pool::release_thread_slot();
                got
            })
        };
        owner.join().unwrap();
        let stolen = thief.join().unwrap();
        let mut pool = Arc::try_unwrap(pool).ok().expect("threads joined");
        if stolen.is_none() {
            // Nothing was reachable to the thief whenever its Get took
            // effect, so it ran before the owner's first Put reached the
            // shared chain: item 3 is in the owner's victim chain now.
            assert_eq!(
                pool.as_slot(3).try_get(),
                Some(3),
                "a Get marked the victim generation exhausted while its chain held an item"
            );
        }
    });
}
