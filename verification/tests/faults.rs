//! Fault injection (feature `fault-injection` of `victim-pool`): the heavy
//! fence of a cleanup fails, or allocating a chain segment panics, at
//! chosen calls. Run under ASan and Miri too (see `.ci/verification.sh`):
//! a fault must never become a use-after-free, a lost or doubly dropped
//! item, or a slot that stays unusable.
//!
//! What a failed heavy fence must do (DESIGN.md §6.4, fail closed): the
//! cleanup still completes (its claims are cleared), but it rotates no
//! private item itself and frees no retired chain's memory until a later
//! cleanup's fence succeeds (it still pops the chain's items out, as any
//! consumer may); `PoolStats::fence_failures` counts it.
//!
//! Faults are process-wide, so the tests of this binary run one at a time
//! (a static mutex), and each disarms every fault when it ends.
#![cfg(not(any(loom, shuttle)))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;

use victim_pool::fault_injection::{clear, inject, injected, Fault};
use victim_pool::Pool;
use victim_pool_verification::ledger::{Ledger, Tracked};

/// `normal` on real threads (divided by 10 when `VERIFY_QUICK` is set),
/// `miri` under Miri.
fn rounds(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else if std::env::var_os("VERIFY_QUICK").is_some() {
        (normal / 10).max(1)
    } else {
        normal
    }
}

/// Holds the binary's fault lock; disarms every fault when dropped (even
/// when the test fails).
struct Serial(#[allow(dead_code, reason = "held for its lock")] MutexGuard<'static, ()>);

impl Drop for Serial {
    fn drop(&mut self) {
        clear();
    }
}

fn serial() -> Serial {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    clear();
    Serial(guard)
}

/// One thread's slot, used by many threads, with one item in each place of
/// a pool: after a failed-fence cleanup nothing may have been dropped by
/// it; after the faults are cleared, one good cleanup releases everything.
#[test]
fn failed_fence_cleanup_rotates_no_private_item_and_frees_no_chain() {
    let _serial = serial();
    let ledger = Ledger::new();
    let pool = Pool::<Tracked>::builder().manual_cleanup().build();
    // a private, b and c in the shared chain; then the victim generation.
    for id in [0, 1, 2] {
        pool.put(ledger.item(id));
    }
    pool.cleanup();
    // d private, e shared (the thread catches up with nothing: the cleanup
    // found it idle and rotated it).
    for id in [3, 4] {
        pool.put(ledger.item(id));
    }
    let before = pool.stats();
    let fences = injected(Fault::HeavyFence);
    inject(Fault::HeavyFence, 0, 1);
    pool.cleanup();
    assert_eq!(injected(Fault::HeavyFence), fences + 1, "the fault fired");
    let after = pool.stats();
    let mut problems = Problems::default();
    // Fail closed (DESIGN.md §6.4): the retired victim chain's items (1, 2)
    // are popped out as a consumer would and released, but no private item
    // is rotated (0 waits in the victim private slot for its owner's
    // catch-up) and the chain's memory is kept until a fence succeeds.
    let dropped: Vec<u64> = (0..5).filter(|&id| ledger.drops_of(id) > 0).collect();
    problems.check(
        dropped == [1, 2],
        format!(
            "a cleanup whose heavy fence failed dropped items {dropped:?} (expected the \
             retired chain's [1, 2]: it must rotate no private item)"
        ),
    );
    problems.check(
        after.retired_waiting == before.retired_waiting + 1,
        format!(
            "a failed-fence cleanup freed its retired chain ({} batches waiting, expected {})",
            after.retired_waiting,
            before.retired_waiting + 1
        ),
    );
    problems.check(
        after.cleanups == before.cleanups + 1,
        "the failed-fence cleanup did not complete".into(),
    );
    problems.check(
        after.cleanup_drops == before.cleanup_drops + 2,
        format!(
            "a failed-fence cleanup released {} items (expected the chain's 2)",
            after.cleanup_drops - before.cleanup_drops
        ),
    );
    problems.check(
        after.fence_failures == before.fence_failures + 1,
        format!(
            "PoolStats::fence_failures is {} after one failed fence (expected {})",
            after.fence_failures,
            before.fence_failures + 1
        ),
    );
    clear();
    pool.cleanup();
    assert_eq!(
        pool.stats().retired_waiting,
        0,
        "a working fence frees the chain"
    );
    pool.cleanup();
    ledger.assert_each_dropped_once(0..5);
    // The slot works again: a Put then a Get hits the private item.
    let hits = pool.stats().private_hits;
    pool.put(ledger.item(5));
    assert_eq!(pool.try_get().map(|item| item.id()), Some(5));
    assert_eq!(pool.stats().private_hits, hits + 1);
    drop(pool);
    ledger.assert_each_dropped_once(0..6);
    problems.assert_none();
}

/// Violations collected so a test reports all of them, not just the first.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, problem: String) {
        if !ok {
            self.0.push(problem);
        }
    }

    fn assert_none(self) {
        assert!(self.0.is_empty(), "{}", self.0.join("\n"));
    }
}

/// How a test arms the heavy fence: let `after` fences through, then fail
/// `times` (`u64::MAX`: forever).
#[derive(Clone, Copy, Debug)]
struct FencePlan {
    after: u64,
    times: u64,
}

/// Workers Put, Get (keeping, putting back or dropping what they got) and
/// steal while a cleaner runs cleanups whose heavy fence fails as `plan`
/// says. Then, with the workers idle and the faults cleared, two cleanups
/// release every item nobody holds; then each worker's Put/Get pairs hit
/// its private slot again; at the end every item was dropped exactly once.
fn fence_faults_under_contention(plan: FencePlan) {
    let _serial = serial();
    const WORKERS: u64 = 3;
    let ops = rounds(2_000, 30) as u64;
    let cleanups = rounds(200, 6) as u64;
    let ledger = Ledger::new();
    let pool = Arc::new(Pool::<Tracked>::builder().manual_cleanup().build());
    let phase = Arc::new(Barrier::new(WORKERS as usize + 1));
    let fences = injected(Fault::HeavyFence);
    let before = pool.stats();
    inject(Fault::HeavyFence, plan.after, plan.times);
    let workers: Vec<_> = (0..WORKERS)
        .map(|t| {
            let (pool, ledger, phase) = (pool.clone(), ledger.clone(), phase.clone());
            thread::spawn(move || {
                let first = t * 1_000_000;
                let mut held = Vec::new();
                for i in 0..ops {
                    match i % 5 {
                        0..=2 => pool.put(ledger.item(first + i)),
                        3 => held.extend(pool.try_get()),
                        _ => match held.pop() {
                            Some(item) if i % 2 == 0 => pool.put(item),
                            Some(item) => drop(item),
                            None => held.extend(pool.try_get()),
                        },
                    }
                }
                let held_ids: Vec<u64> = held.iter().map(Tracked::id).collect();
                // Phase 1 over: idle while the main thread cleans.
                phase.wait();
                phase.wait();
                // Phase 2: the private slot works again.
                let pairs = rounds(100, 4) as u64;
                for i in 0..pairs {
                    let id = first + 500_000 + i;
                    pool.put(ledger.item(id));
                    let got = pool.try_get().map(|item| item.id());
                    assert_eq!(
                        got,
                        Some(id),
                        "a Put then a Get on one thread after the faults"
                    );
                }
                (held, held_ids, pairs)
            })
        })
        .collect();
    let cleaner = {
        let pool = pool.clone();
        thread::spawn(move || {
            for _ in 0..cleanups {
                pool.cleanup();
                thread::yield_now();
            }
        })
    };
    cleaner.join().unwrap();
    phase.wait();
    // Workers idle. What phase 1 saw:
    let failed = injected(Fault::HeavyFence) - fences;
    let stats = pool.stats();
    let expected_failures = plan.times.min(cleanups.saturating_sub(plan.after));
    assert_eq!(failed, expected_failures, "fault plan {plan:?}");
    let mut problems = Problems::default();
    problems.check(
        stats.fence_failures - before.fence_failures == failed,
        format!(
            "PoolStats::fence_failures counted {} of {failed} failed fences ({plan:?})",
            stats.fence_failures - before.fence_failures
        ),
    );
    if plan.after == 0 && plan.times == u64::MAX {
        // Every fence failed: no retired chain may have been freed.
        problems.check(
            stats.retired_waiting > 0,
            format!("cleanups whose fence failed freed every retired chain ({plan:?})"),
        );
    }
    clear();
    pool.cleanup();
    pool.cleanup();
    problems.check(
        pool.stats().retired_waiting == 0,
        format!("working fences left retired chains unfreed ({plan:?})"),
    );
    // Everything put in phase 1 and not held by a worker is gone now.
    let drops = ledger.drops();
    let alive: Vec<u64> = (0..WORKERS)
        .flat_map(|t| (t * 1_000_000..t * 1_000_000 + ops).filter(|i| i % 5 <= 2))
        .filter(|id| !drops.contains_key(id))
        .collect();
    let hits = pool.stats().private_hits;
    phase.wait();
    let mut held = Vec::new();
    let mut pairs = 0;
    for worker in workers {
        let (items, ids, n) = worker.join().unwrap();
        held.extend(ids);
        drop(items);
        pairs += n;
    }
    held.sort_unstable();
    let leaked: Vec<u64> = alive
        .into_iter()
        .filter(|id| held.binary_search(id).is_err())
        .collect();
    problems.check(
        leaked.is_empty(),
        format!(
            "items neither held nor released after the faults cleared and two cleanups \
             ({plan:?}): {leaked:?}"
        ),
    );
    let private_hits = pool.stats().private_hits - hits;
    problems.check(
        private_hits == pairs,
        format!("{private_hits} of {pairs} Gets after the faults hit a private slot ({plan:?})"),
    );
    drop(pool);
    let ids = (0..WORKERS).flat_map(|t| {
        let first = t * 1_000_000;
        (first..first + ops)
            .filter(|i| i % 5 <= 2)
            .chain(first + 500_000..first + 500_000 + pairs / WORKERS)
    });
    ledger.assert_each_dropped_once(ids);
    problems.assert_none();
}

#[test]
fn heavy_fence_fails_once() {
    fence_faults_under_contention(FencePlan { after: 2, times: 1 });
}

#[test]
fn heavy_fence_fails_several_times() {
    fence_faults_under_contention(FencePlan { after: 1, times: 4 });
}

#[test]
fn heavy_fence_fails_forever() {
    fence_faults_under_contention(FencePlan {
        after: 0,
        times: u64::MAX,
    });
}

/// Chains grow (many Puts per thread) while allocating a segment panics at
/// chosen calls: each Put that panics has dropped exactly the item it was
/// putting, nothing else is lost, and the slot keeps working.
#[test]
fn chain_allocation_panics_during_put_overflow() {
    let _serial = serial();
    victim_pool_verification::adversary::quiet_expected_panics();
    const WORKERS: u64 = 3;
    let puts = rounds(3_000, 40) as u64;
    let ledger = Ledger::new();
    let pool = Arc::new(Pool::<Tracked>::builder().manual_cleanup().build());
    let faults = injected(Fault::ChainAllocation);
    // The first segment allocation succeeds, the next ones fail (whichever
    // thread makes them), then allocations succeed again.
    inject(Fault::ChainAllocation, 1, rounds(30, 3) as u64);
    let workers: Vec<_> = (0..WORKERS)
        .map(|t| {
            let (pool, ledger) = (pool.clone(), ledger.clone());
            thread::spawn(move || {
                let first = t * 1_000_000;
                let mut failed = Vec::new();
                let mut got = Vec::new();
                for i in 0..puts {
                    let id = first + i;
                    let put = catch_unwind(AssertUnwindSafe(|| pool.put(ledger.item(id))));
                    if let Err(panic) = put {
                        let text = panic
                            .downcast_ref::<&str>()
                            .copied()
                            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                            .unwrap_or("")
                            .to_string();
                        assert!(
                            text.contains("fault injection"),
                            "unexpected panic in Put: {text}"
                        );
                        assert_eq!(
                            ledger.drops_of(id),
                            1,
                            "the item of a Put that panicked must be dropped exactly once"
                        );
                        failed.push(id);
                    }
                    // A thief now and then, so segments are unlinked and
                    // reclaimed while others grow.
                    if i % 16 == 15 {
                        got.extend(pool.try_get().map(|item| item.id()));
                    }
                }
                (failed, got)
            })
        })
        .collect();
    let mut failed = Vec::new();
    let mut got = Vec::new();
    for worker in workers {
        let (f, g) = worker.join().unwrap();
        failed.extend(f);
        got.extend(g);
    }
    let fired = injected(Fault::ChainAllocation) - faults;
    assert!(fired > 0, "no chain allocation failed");
    assert_eq!(
        failed.len() as u64,
        fired,
        "each failed allocation is one Put that panicked"
    );
    clear();
    // Slots still work: Puts grow the chains again; everything else is
    // still in the pool (no cleanup ran) and is drained now.
    for id in 10_000_000..10_000_000 + rounds(100, 20) as u64 {
        pool.put(ledger.item(id));
    }
    let mut pool = Arc::try_unwrap(pool).expect("joined");
    let slots = pool.stats().slots;
    for slot in 0..slots {
        while let Some(item) = pool.as_slot(slot).try_get() {
            got.push(item.id());
        }
    }
    let n = got.len();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), n, "an item was got twice");
    failed.sort_unstable();
    let extra: Vec<u64> = (0..WORKERS)
        .flat_map(|t| t * 1_000_000..t * 1_000_000 + puts)
        .chain(10_000_000..10_000_000 + rounds(100, 20) as u64)
        .filter(|id| failed.binary_search(id).is_err() && got.binary_search(id).is_err())
        .collect();
    assert!(
        extra.is_empty(),
        "items put (without a panic) but not found in the pool: {:?}",
        &extra[..extra.len().min(20)]
    );
    drop(pool);
    ledger.assert_each_dropped_once(
        (0..WORKERS)
            .flat_map(|t| t * 1_000_000..t * 1_000_000 + puts)
            .chain(10_000_000..10_000_000 + rounds(100, 20) as u64),
    );
}
