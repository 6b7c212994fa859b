//! Real-thread stress tests for Miri (weak-memory emulation, many seeds) and
//! ThreadSanitizer. They exercise exactly the protocols the model checkers
//! cannot see through: segment reclamation (a freed segment is plain heap
//! memory, invisible to loom) and the grace period of retired victim chains.
#![cfg(not(any(loom, shuttle)))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use victim_pool::chain::PoolChain;
use victim_pool::dequeue::PoolDequeue;
use victim_pool::Pool;
use victim_pool_verification::ledger::{Ledger, Tracked};

/// `normal` on real threads (divided by 10 when `VERIFY_QUICK` is set, as
/// in the CI quick tier under TSan), `miri` under Miri.
/// The pool tests take turns: the adversary calls `cleanup_all`, which
/// cleans every pool of the process, and the items it takes out of another
/// test's pool are dropped on the adversary's thread — possibly after that
/// test has counted its drops.
static POOL_TESTS: Mutex<()> = Mutex::new(());

fn pool_test_turn() -> MutexGuard<'static, ()> {
    POOL_TESTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn rounds(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else if std::env::var_os("VERIFY_QUICK").is_some() {
        (normal / 10).max(1)
    } else {
        normal
    }
}

/// Like [`rounds`], with an explicit quick-tier size (for a test whose
/// failure needs more than a tenth of its normal size to show up).
fn sized(normal: usize, quick: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else if std::env::var_os("VERIFY_QUICK").is_some() {
        quick
    } else {
        normal
    }
}

/// Consumers unlink drained segments while the producer grows the chain
/// and, finding it empty, reclaims: every value is seen exactly once.
#[test]
fn chain_reclaim_under_contention() {
    for _ in 0..rounds(200, 4) {
        let (mut producer, stealer) = PoolChain::<u64>::new();
        let done = Arc::new(AtomicBool::new(false));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let (stealer, done) = (stealer.clone(), done.clone());
                thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !done.load(Ordering::Acquire) {
                        seen.extend(stealer.pop_tail());
                    }
                    seen.extend(stealer.pop_tail());
                    seen
                })
            })
            .collect();
        let mut seen = Vec::new();
        let n = rounds(200, 40) as u64;
        for v in 0..n {
            producer.push_head(v);
            if v % 7 == 0 {
                seen.extend(producer.pop_head());
            }
            if v % 13 == 0 {
                while let Some(x) = producer.pop_head() {
                    seen.push(x);
                }
            }
        }
        done.store(true, Ordering::Release);
        for c in consumers {
            seen.extend(c.join().unwrap());
        }
        while let Some(x) = producer.pop_head() {
            seen.push(x);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "each value exactly once");
    }
}

/// Go's test: one producer, consumers at the tail, indices crossing 2^32.
#[test]
fn dequeue_wraparound_under_contention() {
    let (mut producer, stealer) = PoolDequeue::<u64>::with_start_index(4, u32::MAX - 50);
    let n = rounds(20_000, 200) as u64;
    let done = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (stealer, done) = (stealer.clone(), done.clone());
            thread::spawn(move || {
                let mut seen = Vec::new();
                while !done.load(Ordering::Acquire) {
                    seen.extend(stealer.pop_tail());
                }
                seen.extend(stealer.pop_tail());
                seen
            })
        })
        .collect();
    let mut seen = Vec::new();
    for v in 0..n {
        let mut v = v;
        loop {
            match producer.push_head(v) {
                Ok(()) => break,
                Err(back) => {
                    v = back;
                    thread::yield_now();
                }
            }
        }
        if v % 5 == 0 {
            seen.extend(producer.pop_head());
        }
    }
    done.store(true, Ordering::Release);
    for c in consumers {
        seen.extend(c.join().unwrap());
    }
    while let Some(x) = stealer.pop_tail() {
        seen.push(x);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
}

/// Owners put and get, thieves steal, one thread runs cleanups: nothing
/// is got twice, and every item is dropped exactly once.
#[test]
fn pool_with_concurrent_cleanup() {
    let _turn = pool_test_turn();
    let ledger = Ledger::new();
    let pool = Arc::new(Pool::<Tracked>::builder().manual_cleanup().build());
    let per_thread = rounds(5_000, 60) as u64;
    let workers: Vec<_> = (0..3u64)
        .map(|t| {
            let (pool, ledger) = (pool.clone(), ledger.clone());
            thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..per_thread {
                    pool.put(ledger.item(t * per_thread + i));
                    if i % 3 != 0 {
                        pool.put(ledger.item(10_000_000 + t * per_thread + i));
                    }
                    if let Some(item) = pool.try_get() {
                        got.push(item.id());
                    }
                }
                got
            })
        })
        .collect();
    let cleaner = {
        let pool = pool.clone();
        thread::spawn(move || {
            for _ in 0..rounds(500, 10) {
                pool.cleanup();
                thread::yield_now();
            }
        })
    };
    let mut got: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    cleaner.join().unwrap();
    let mut pool = Arc::try_unwrap(pool).expect("joined");
    for slot in 0..8 {
        while let Some(item) = pool.as_slot(slot).try_get() {
            got.push(item.id());
        }
    }
    let n = got.len();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), n, "an item was got twice");
    drop(pool);
    let ids = (0..3 * per_thread).chain((0..3u64).flat_map(|t| {
        (0..per_thread)
            .filter(|i| i % 3 != 0)
            .map(move |i| 10_000_000 + t * per_thread + i)
    }));
    ledger.assert_each_dropped_once(ids);
}

/// Focused on the grace period of retired victim chains (the mutant
/// `cleanup_frees_victim_early` frees them at once): a thief's Get walks
/// the victim chains while another thread's cleanup retires exactly the
/// chain it is reading. Small enough for many Miri seeds.
#[test]
fn victim_chain_grace_period() {
    let _turn = pool_test_turn();
    for round in 0..rounds(300, 6) as u64 {
        let ledger = Ledger::new();
        let pool = Arc::new(Pool::<Tracked>::builder().manual_cleanup().build());
        let per_round = 10;
        let first = round * per_round;
        // An owner fills its private slot and its shared chain, then exits.
        {
            let (pool, ledger) = (pool.clone(), ledger.clone());
            thread::spawn(move || {
                for id in first..first + per_round {
                    pool.put(ledger.item(id));
                }
            })
            .join()
            .unwrap();
        }
        // Its items become the victim generation.
        pool.cleanup();
        let thief = {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                for _ in 0..3 {
                    got.extend(pool.try_get().map(|item| item.id()));
                }
                got
            })
        };
        // Retires the victim chain the thief is reading.
        let cleaner = {
            let pool = pool.clone();
            thread::spawn(move || pool.cleanup())
        };
        let mut got = thief.join().unwrap();
        cleaner.join().unwrap();
        let mut pool = Arc::try_unwrap(pool).expect("joined");
        for slot in 0..4 {
            while let Some(item) = pool.as_slot(slot).try_get() {
                got.push(item.id());
            }
        }
        let n = got.len();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), n, "an item was got twice");
        drop(pool);
        ledger.assert_each_dropped_once(first..first + per_round);
    }
}

/// Focused on a pool's chains, which keep unlinked segments until the chain
/// itself is retired (the mutant `pooled_chain_frees_unlinked` frees them
/// at once): an owner overflows its private slot into its chain, growing it
/// past its first segment, then takes everything back, while two thieves
/// steal at the tail and unlink the segments they drain. No cleanup runs,
/// so nothing but the chain's own rule keeps those segments alive. Small
/// enough for many Miri seeds.
#[test]
fn pooled_chain_steals_while_owner_regrows() {
    let _turn = pool_test_turn();
    for round in 0..rounds(200, 3) as u64 {
        let ledger = Ledger::new();
        let pool = Arc::new(Pool::<Tracked>::builder().manual_cleanup().build());
        let per_fill = 20; // private + a segment of 8 + one of 16
        let fills = rounds(20, 2) as u64;
        let first = round * per_fill * fills;
        let done = Arc::new(AtomicBool::new(false));
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let (pool, done) = (pool.clone(), done.clone());
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while !done.load(Ordering::Acquire) {
                        got.extend(pool.try_get().map(|item| item.id()));
                    }
                    got
                })
            })
            .collect();
        let owner = {
            let (pool, ledger) = (pool.clone(), ledger.clone());
            thread::spawn(move || {
                let mut got = Vec::new();
                for fill in 0..fills {
                    let base = first + fill * per_fill;
                    for id in base..base + per_fill {
                        pool.put(ledger.item(id));
                    }
                    // Back at the head until the chain is empty: its
                    // `pop_head` then reclaims what the thieves unlinked.
                    while let Some(item) = pool.try_get() {
                        got.push(item.id());
                    }
                }
                got
            })
        };
        let mut got = owner.join().unwrap();
        done.store(true, Ordering::Release);
        for thief in thieves {
            got.extend(thief.join().unwrap());
        }
        let n = got.len();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), n, "an item was got twice");
        drop(pool);
        ledger.assert_each_dropped_once(first..first + per_fill * fills);
    }
}

/// Adversarial items (`victim_pool_verification::adversary`): their `Drop`,
/// the pool's New and reset hooks call back into the pool (Put, Get,
/// guards, cleanup, `cleanup_all`, `release_thread_slot`, other pools,
/// panics) while 3 threads run random operations and a fourth runs
/// cleanup, `cleanup_all` and `release_thread_slot`. A re-entrant call from
/// inside an operation (a `T::drop` run by Put's bound drop, for example)
/// that breaks the slot protocol shows up as a use-after-free (Miri, ASan),
/// a data race (Miri, TSan), or a lost, doubled or duplicated item (the
/// ledger).
#[test]
fn adversarial_items_with_concurrent_cleanup() {
    let _turn = pool_test_turn();
    victim_pool_verification::adversary::quiet_expected_panics();
    let (runs, ops) = (rounds(40, 2) as u64, rounds(400, 25));
    let mut total = victim_pool_verification::adversary::Report::default();
    for run in 0..runs {
        let seed = victim_pool_verification::rng::seed_from_env(0xadd5_0000) + run;
        let config = victim_pool_verification::adversary::Config {
            max_per_thread: [None, Some(1), Some(3)][(seed % 3) as usize],
            ..Default::default()
        };
        let report = victim_pool_verification::adversary::run_threads(seed, config, 3, ops)
            .unwrap_or_else(|e| panic!("{e} (VERIFY_SEED={seed} replays this run's script)"));
        total.items += report.items;
        total.reentrant_calls += report.reentrant_calls;
        total.panics += report.panics;
    }
    eprintln!("adversarial_items_with_concurrent_cleanup: {runs} runs, {total:?}");
    // The adversary really re-entered and panicked.
    assert!(total.reentrant_calls > 0 && total.panics > 0, "{total:?}");
}

/// A slot given away inside `T::drop`, aimed at: every item's `Drop` first
/// calls `release_thread_slot()`, then calls back into the pool; with
/// `max_per_thread(1)` most Puts drop an item, so on a core that runs
/// `T::drop` inside Put the slot id goes back to the allocator while the
/// Put is still in progress and another thread can lease it — two owners
/// of one slot, which a concurrent cleanup turns into a use-after-free
/// (ASan, Miri) or a data race (TSan, Miri). On a core that runs no user
/// code inside an operation the same run is clean.
#[test]
fn adversarial_release_thread_slot_inside_drop() {
    let _turn = pool_test_turn();
    victim_pool_verification::adversary::quiet_expected_panics();
    // Sized so that TSan on a core that runs T::drop inside Put reports the
    // race on the slot's private fields at the quick size too (3 runs of 3
    // found it; 1 of 3 at 12 x 250).
    let (runs, ops) = (sized(40, 20, 2) as u64, sized(500, 400, 25));
    for run in 0..runs {
        let seed = victim_pool_verification::rng::seed_from_env(0x5107_0000) + run;
        let config = victim_pool_verification::adversary::Config {
            max_depth: 1,
            meddle_percent: 100,
            panics: false,
            global: true,
            max_per_thread: Some(1),
            drop_releases_slot: true,
        };
        let report = victim_pool_verification::adversary::run_threads(seed, config, 4, ops)
            .unwrap_or_else(|e| panic!("{e} (VERIFY_SEED={seed} replays this run's script)"));
        assert!(report.reentrant_calls > 0, "{report:?}");
    }
}
