//! Faults from the kernel and the allocator (feature `fault-injection`): a
//! refused heavy fence never turns into a use-after-free, a lost item or a
//! stuck private slot, and a panicking chain allocation drops the item it
//! was placing exactly once. Faults are process-wide, so the tests take
//! turns (`SERIAL`).

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use common::{scaled, Counted, DropLedger};
use victim_pool::fault_injection::{self, Fault};
use victim_pool::Pool;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    fault_injection::clear();
    guard
}

#[test]
fn a_refused_fence_leaves_no_claim_set_and_rotates_nothing_itself() {
    let _serial = serial();
    let ledger = DropLedger::new(3);
    let pool = Pool::builder().manual_cleanup().build();
    pool.put(ledger.item(0));
    let injected = fault_injection::injected(Fault::HeavyFence);
    fault_injection::inject(Fault::HeavyFence, 0, 1);
    pool.cleanup();
    assert_eq!(fault_injection::injected(Fault::HeavyFence), injected + 1);
    assert_eq!(pool.stats().fence_failures, 1);
    // No claim stayed set: this thread's private slot works again at once
    // (the old code left every claim set for ever).
    pool.put(ledger.item(1));
    let hits = pool.stats().private_hits;
    assert_eq!(pool.try_get().map(|item| item.id), Some(1));
    assert_eq!(pool.stats().private_hits, hits + 1);
    // Item 0 was rotated into the victim by its owner's catch-up (the
    // failed cleanup counted, but touched no private field itself), so
    // the next cleanup releases it, as Go's second GC would.
    assert_eq!(ledger.drops(0), 0);
    pool.cleanup();
    assert_eq!(ledger.drops(0), 1);
    drop(pool);
    assert_eq!(ledger.drops(2), 0);
    drop(ledger.item(2));
    ledger.assert_each_dropped_once();
}

/// Threads put and get (and steal) while cleanups run with the fence
/// failing as `fail_every` says; every item is dropped exactly once and,
/// once the faults stop, two cleanups release everything left.
fn churn_with_failing_fences(fail_after: u64, fail_times: u64) {
    let threads = 3;
    let per_thread = scaled(3_000);
    let ledger = DropLedger::new(threads * per_thread);
    let pool = Arc::new(Pool::builder().manual_cleanup().build());
    let stop = Arc::new(AtomicBool::new(false));
    fault_injection::inject(Fault::HeavyFence, fail_after, fail_times);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (pool, ledger) = (pool.clone(), ledger.clone());
            thread::spawn(move || {
                let mut held: Vec<Counted> = Vec::new();
                for i in 0..per_thread {
                    held.push(ledger.item(t * per_thread + i));
                    if i % 4 == 3 {
                        for item in held.drain(..) {
                            pool.put(item);
                        }
                        // Takes some back (own, stolen or victim).
                        held.extend(pool.try_get());
                    }
                }
                for item in held {
                    pool.put(item);
                }
            })
        })
        .collect();
    let cleaner = {
        let (pool, stop) = (pool.clone(), stop.clone());
        thread::spawn(move || {
            // At least enough cleanups to reach the failing ones.
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) || rounds < 40 {
                pool.cleanup();
                rounds += 1;
                thread::yield_now();
            }
        })
    };
    for worker in workers {
        worker.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    cleaner.join().unwrap();
    assert!(
        pool.stats().fence_failures > 0,
        "no fence failed: the test did not test anything"
    );
    fault_injection::clear();
    // The workers have exited: their slots are idle, so two working
    // cleanups release everything, including what waited for a fence.
    pool.cleanup();
    pool.cleanup();
    assert_eq!(
        ledger.total_drops(),
        threads * per_thread,
        "items still held after two working cleanups: {:?}",
        pool.stats()
    );
    assert_eq!(pool.stats().retired_waiting, 0);
    ledger.assert_each_dropped_once();
}

#[test]
fn fences_failing_now_and_then_lose_nothing() {
    let _serial = serial();
    churn_with_failing_fences(3, 5);
}

#[test]
fn fences_failing_for_ever_lose_nothing() {
    let _serial = serial();
    churn_with_failing_fences(0, u64::MAX);
}

#[test]
fn a_panicking_chain_allocation_drops_the_item_once_and_loses_nothing() {
    let _serial = serial();
    let total = 100;
    let ledger = DropLedger::new(total);
    let pool = Pool::builder().manual_cleanup().build();
    // 1 private + 8 in the first segment (allocating the chain and its
    // first segment: two allocation points), then the second segment's
    // allocation panics.
    fault_injection::inject(Fault::ChainAllocation, 2, 1);
    let mut refused = Vec::new();
    for id in 0..total {
        if catch_unwind(AssertUnwindSafe(|| pool.put(ledger.item(id)))).is_err() {
            refused.push(id);
        }
    }
    assert_eq!(
        refused,
        [9],
        "the Put that needed the second segment panicked"
    );
    assert_eq!(ledger.drops(9), 1, "the refused item was dropped, once");
    let mut back: Vec<usize> = std::iter::from_fn(|| pool.try_get())
        .map(|item| item.id)
        .collect();
    back.sort_unstable();
    assert_eq!(back, (0..total).filter(|&id| id != 9).collect::<Vec<_>>());
    ledger.assert_each_dropped_once();
}

#[test]
fn a_thread_stuck_inside_an_operation_holds_back_chain_memory_not_items() {
    let _serial = serial();
    let ledger = DropLedger::new(64);
    let pool = Arc::new(Pool::builder().manual_cleanup().build());
    // A thread stalls inside a Get (its private slot empty: slow path).
    fault_injection::stall_next_slow_get();
    let stuck = {
        let pool = pool.clone();
        thread::spawn(move || drop(pool.try_get()))
    };
    while !fault_injection::stalled() {
        thread::yield_now();
    }
    // Meanwhile this thread fills a chain and cleans twice: the victim
    // chain retired by the second cleanup waits for the stuck thread, but
    // its items (and this idle thread's private item) are released now.
    for id in 0..32 {
        pool.put(ledger.item(id));
    }
    pool.cleanup();
    pool.cleanup();
    assert_eq!(pool.stats().retired_waiting, 1, "{:?}", pool.stats());
    assert_eq!((0..32).filter(|&id| ledger.drops(id) == 1).count(), 32);
    fault_injection::release_stall();
    stuck.join().unwrap();
    pool.cleanup();
    assert_eq!(pool.stats().retired_waiting, 0);
    for id in 32..64 {
        drop(ledger.item(id));
    }
    drop(pool);
    ledger.assert_each_dropped_once();
}

/// Panics when dropped if its id is the armed one.
struct PanicsWhenArmed {
    item: Counted,
    armed: usize,
}

impl Drop for PanicsWhenArmed {
    fn drop(&mut self) {
        if self.item.id == self.armed {
            panic!("hostile drop of item {}", self.armed);
        }
    }
}

#[test]
fn a_panicking_drop_among_an_operations_leftovers_skips_none_of_the_others() {
    let _serial = serial();
    let ledger = DropLedger::new(3);
    let pool = Pool::builder().manual_cleanup().build();
    let item = |id| PanicsWhenArmed {
        item: ledger.item(id),
        armed: 1,
    };
    // Cleanups whose fence fails rotate nothing: the owner catches up in
    // its own next operation, whose leftovers then hold two items.
    fault_injection::inject(Fault::HeavyFence, 0, u64::MAX);
    pool.put(item(0)); // private
    pool.cleanup();
    pool.put(item(1)); // catch-up: 0 to the victim; 1 private
    pool.cleanup();
    pool.cleanup();
    fault_injection::clear();
    // Catch-up of two cleanups: 0 (victim) and 1 (private) are released by
    // this Put and dropped after it, 1 first; 1's drop panics.
    assert!(catch_unwind(AssertUnwindSafe(|| pool.put(item(2)))).is_err());
    assert_eq!((ledger.drops(0), ledger.drops(1)), (1, 1), "0 was skipped");
    drop(pool);
    ledger.assert_each_dropped_once();
}

#[test]
fn a_get_whose_leftovers_panic_does_not_leak_the_item_it_found() {
    let _serial = serial();
    let ledger = DropLedger::new(2);
    let pool = Pool::builder().manual_cleanup().build();
    let item = |id| PanicsWhenArmed {
        item: ledger.item(id),
        armed: 0,
    };
    fault_injection::inject(Fault::HeavyFence, 0, u64::MAX);
    pool.put(item(0)); // private
    pool.cleanup();
    pool.put(item(1)); // catch-up: 0 to the victim; 1 private
    pool.cleanup();
    fault_injection::clear();
    // This Get catches up (0 released, 1 to the victim) and finds 1 in the
    // victim; then 0's drop panics, after the operation. The unwind must
    // drop 1 too (a return value moved out before a later local's drop
    // panics is leaked: rust-lang/rust#47949).
    assert!(catch_unwind(AssertUnwindSafe(|| drop(pool.try_get()))).is_err());
    assert_eq!((ledger.drops(0), ledger.drops(1)), (1, 1), "1 was leaked");
    drop(pool);
    ledger.assert_each_dropped_once();
}
