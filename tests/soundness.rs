//! The operation rule under hostile user code: a `T::drop`, `Clone`, New or
//! reset hook that re-enters the pool, gives its thread slot away, cleans
//! every pool or panics never runs inside an operation or under a pool
//! lock, and every object is still dropped exactly once (DESIGN.md §5.1).
//!
//! Debug builds check the rule at every API entry, so a `T::drop` run
//! inside an operation fails these tests with "called from inside a pool
//! operation"; under AddressSanitizer the same bug is a use-after-free.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;

use common::{scaled, DropLedger};
use victim_pool::{release_thread_slot, Pool};

/// An item whose drop re-enters its pool and gives the thread slot away.
struct Reentrant {
    _item: common::Counted,
    pool: Arc<OnceLock<Pool<Reentrant>>>,
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.get() {
            // Gives the slot id away: with the old code a drop inside the
            // operation let another thread lease the id mid-operation.
            release_thread_slot();
            let _ = pool.try_get();
            let _ = pool.stats();
        }
    }
}

#[test]
fn an_item_refused_by_the_bound_is_dropped_after_the_operation() {
    let ledger = DropLedger::new(8);
    let cell = Arc::new(OnceLock::new());
    assert!(cell
        .set(Pool::builder().manual_cleanup().max_per_thread(1).build())
        .is_ok());
    let pool = cell.get().unwrap();
    for id in 0..8 {
        pool.put(Reentrant {
            _item: ledger.item(id),
            pool: cell.clone(),
        });
    }
    // Refused items were dropped after their Put ended, and each drop gave
    // the slot away and took an item back out (which it dropped in turn).
    assert!(pool.stats().bound_drops >= 1, "{:?}", pool.stats());
    while let Some(item) = pool.try_get() {
        drop(item);
    }
    ledger.assert_each_dropped_once();
}

#[test]
fn drops_that_give_the_slot_away_under_contention_lose_nothing() {
    let threads = 4;
    let per_thread = scaled(2_000);
    let ledger = DropLedger::new(threads * per_thread);
    let cell = Arc::new(OnceLock::new());
    assert!(cell
        .set(Pool::builder().manual_cleanup().max_per_thread(2).build())
        .is_ok());
    let start = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (ledger, cell, start) = (ledger.clone(), cell.clone(), start.clone());
            thread::spawn(move || {
                let pool = cell.get().unwrap();
                start.wait();
                for i in 0..per_thread {
                    pool.put(Reentrant {
                        _item: ledger.item(t * per_thread + i),
                        pool: cell.clone(),
                    });
                    if i % 3 == 0 {
                        drop(pool.try_get());
                    }
                }
            })
        })
        .collect();
    start.wait();
    let pool = cell.get().unwrap();
    for _ in 0..scaled(200) {
        pool.cleanup();
        thread::yield_now();
    }
    for worker in workers {
        worker.join().unwrap();
    }
    pool.cleanup();
    pool.cleanup();
    while let Some(item) = pool.try_get() {
        drop(item);
    }
    pool.cleanup();
    pool.cleanup();
    assert_eq!(ledger.total_drops(), threads * per_thread);
    ledger.assert_each_dropped_once();
}

/// An item that panics the first time one of its kind is dropped.
struct PanicsOnce {
    item: common::Counted,
    armed: Arc<AtomicUsize>,
}

impl Drop for PanicsOnce {
    fn drop(&mut self) {
        if self.armed.fetch_sub(1, Ordering::SeqCst) == 1 {
            panic!("drop of item {} panicked", self.item.id);
        }
    }
}

#[test]
fn a_panicking_drop_in_cleanup_is_counted_and_skips_nothing() {
    let ledger = DropLedger::new(10);
    let armed = Arc::new(AtomicUsize::new(1));
    let pool = Pool::builder().manual_cleanup().build();
    for id in 0..10 {
        pool.put(PanicsOnce {
            item: ledger.item(id),
            armed: armed.clone(),
        });
    }
    pool.cleanup();
    assert!(catch_unwind(AssertUnwindSafe(|| pool.cleanup())).is_err());
    assert_eq!(pool.stats().cleanup_panics, 1);
    // The pool is usable, and the release went on past the panic.
    ledger.assert_each_dropped_once();
    pool.put(PanicsOnce {
        item: DropLedger::new(1).item(0),
        armed,
    });
    assert!(pool.try_get().is_some());
}
