//! Panics and re-entrancy: user code (New, the reset hook, `T::drop`) may
//! panic or call back into the pool, and the pool stays usable with every
//! object dropped exactly once.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use common::DropLedger;
use victim_pool::Pool;

#[test]
fn a_panicking_new_leaves_the_pool_unchanged() {
    let pool = Pool::builder()
        .manual_cleanup()
        .new_fn(|| -> u32 { panic!("New failed") })
        .build();
    assert!(catch_unwind(AssertUnwindSafe(|| pool.get())).is_err());
    pool.put(7);
    assert_eq!(pool.get(), 7);
    assert_eq!(pool.stats().new_calls, 1);
}

#[test]
fn a_panicking_reset_drops_that_item_only() {
    let ledger = DropLedger::new(3);
    let pool: Pool<common::Counted> = Pool::builder()
        .manual_cleanup()
        .reset(|item: &mut common::Counted| assert_ne!(item.id, 1, "cannot reset item 1"))
        .build();
    pool.put(ledger.item(0));
    assert!(catch_unwind(AssertUnwindSafe(|| pool.put(ledger.item(1)))).is_err());
    assert_eq!((ledger.drops(0), ledger.drops(1)), (0, 1));
    pool.put(ledger.item(2));
    let mut left: Vec<usize> = std::iter::from_fn(|| pool.try_get())
        .map(|c| c.id)
        .collect();
    left.sort_unstable();
    assert_eq!(left, [0, 2]);
    ledger.assert_each_dropped_once();
}

/// An item whose drop panics once (the first time any such item drops).
struct PanicsOnDrop {
    item: common::Counted,
    armed: Arc<AtomicBool>,
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("drop of item {} panicked", self.item.id);
        }
    }
}

#[test]
fn a_panicking_drop_in_cleanup_or_pool_drop_skips_nothing() {
    for via_cleanup in [true, false] {
        let ledger = DropLedger::new(40);
        let armed = Arc::new(AtomicBool::new(true));
        let pool: Pool<PanicsOnDrop> = Pool::builder().manual_cleanup().build();
        std::thread::scope(|s| {
            for t in 0..4 {
                let (pool, ledger, armed) = (&pool, &ledger, &armed);
                s.spawn(move || {
                    for id in t * 10..t * 10 + 10 {
                        pool.put(PanicsOnDrop {
                            item: ledger.item(id),
                            armed: armed.clone(),
                        });
                    }
                });
            }
        });
        let result = catch_unwind(AssertUnwindSafe(|| {
            if via_cleanup {
                pool.cleanup();
                pool.cleanup();
            } else {
                drop(pool);
            }
        }));
        assert!(result.is_err(), "one drop panicked");
        ledger.assert_each_dropped_once();
    }
}

#[test]
fn a_guard_dropped_during_unwinding_returns_its_item_once() {
    let ledger = DropLedger::new(1);
    let pool: Pool<common::Counted> = Pool::builder().manual_cleanup().build();
    pool.put(ledger.item(0));
    let result = catch_unwind(AssertUnwindSafe(|| {
        let Some(item) = pool.try_get() else {
            unreachable!("the item is in the pool");
        };
        pool.put(item);
        let _guard = pool.try_get().map(|item| pool.guard(item));
        panic!("unwinding with a guard alive");
    }));
    assert!(result.is_err());
    assert_eq!(
        pool.try_get().map(|c| c.id),
        Some(0),
        "put back by the guard"
    );
    ledger.assert_each_dropped_once();
}

#[test]
fn new_and_reset_may_call_back_into_the_same_pool() {
    static POOL: OnceLock<Pool<Vec<u32>>> = OnceLock::new();
    static DEPTH: AtomicUsize = AtomicUsize::new(0);
    let pool = POOL.get_or_init(|| {
        Pool::builder()
            .manual_cleanup()
            .new_fn(|| {
                // New re-enters: puts a spare and takes it straight back.
                if DEPTH.fetch_add(1, Ordering::SeqCst) == 0 {
                    let pool = POOL.get().unwrap();
                    pool.put(vec![42]);
                    let spare = pool.get();
                    assert!(
                        spare.is_empty() && spare.capacity() == 1,
                        "the spare, reset on Put"
                    );
                }
                DEPTH.fetch_sub(1, Ordering::SeqCst);
                Vec::new()
            })
            .reset(|v: &mut Vec<u32>| {
                // Reset re-enters: stats and try_get are fine mid-Put.
                let _ = POOL.get().unwrap().stats();
                v.clear();
            })
            .build()
    });
    let v = pool.get();
    assert!(v.is_empty());
    pool.put(vec![1, 2, 3]);
    assert!(pool.get().is_empty(), "reset cleared it");
}

/// Deterministic variant: the panicking item sits in the first bucket and
/// the others in later buckets, private and shared, primary and victim.
#[test]
fn a_panicking_drop_in_the_first_slot_still_drops_every_other_slot() {
    let ledger = DropLedger::new(16);
    let armed = Arc::new(AtomicBool::new(true));
    let mut pool: Pool<PanicsOnDrop> = Pool::builder().manual_cleanup().build();
    let mut id = 0;
    for round in 0..2 {
        for slot in [0, 1, 3, 7] {
            for _ in 0..2 {
                pool.as_slot(slot).put(PanicsOnDrop {
                    item: ledger.item(id),
                    armed: armed.clone(),
                });
                id += 1;
            }
        }
        if round == 0 {
            pool.cleanup(); // the first round moves to the victim
        }
    }
    assert!(catch_unwind(AssertUnwindSafe(|| drop(pool))).is_err());
    ledger.assert_each_dropped_once();
}
