//! Hostile user code against the process-wide API (its own test binary,
//! tests taking turns: `cleanup_all` reaches every pool in the process):
//! `cleanup_all` and the `Sweeper` go on past a panicking `T::drop`, and a
//! `T::clone` that cleans every pool does not deadlock a snapshot.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::DropLedger;
use victim_pool::{cleanup_all, Pool, Sweeper};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Panics when dropped while its switch is on.
struct Bomb {
    _item: common::Counted,
    armed: Arc<AtomicBool>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("a hostile drop");
        }
    }
}

fn fill(
    pool: &Pool<Bomb>,
    ledger: &DropLedger,
    ids: std::ops::Range<usize>,
    armed: &Arc<AtomicBool>,
) {
    for id in ids {
        pool.put(Bomb {
            _item: ledger.item(id),
            armed: armed.clone(),
        });
    }
}

#[test]
fn one_pools_panic_neither_skips_the_others_nor_stops_the_sweeper() {
    let _serial = serial();
    // cleanup_all: the first pool (registered first) panics, the second is
    // still cleaned, then the panic is resumed.
    let ledger = DropLedger::new(40);
    let armed = Arc::new(AtomicBool::new(true));
    let calm = Arc::new(AtomicBool::new(false));
    let first = Pool::builder().manual_cleanup().build();
    let second = Pool::builder().manual_cleanup().build();
    fill(&first, &ledger, 0..10, &armed);
    fill(&second, &ledger, 10..20, &calm);
    cleanup_all();
    assert!(catch_unwind(AssertUnwindSafe(cleanup_all)).is_err());
    assert_eq!(first.stats().cleanup_panics, 1);
    assert_eq!(second.stats().cleanup_panics, 0);
    for id in 0..20 {
        assert_eq!(ledger.drops(id), 1, "item {id}");
    }

    // The sweeper: a panic in one round, and the later rounds still run.
    armed.store(true, Ordering::SeqCst);
    fill(&first, &ledger, 20..30, &armed);
    let sweeper = Sweeper::spawn(Duration::from_millis(5));
    let deadline = Instant::now() + Duration::from_secs(30);
    while sweeper.panics() == 0 {
        assert!(Instant::now() < deadline, "the sweeper never hit the panic");
        thread::sleep(Duration::from_millis(5));
    }
    fill(&second, &ledger, 30..40, &calm);
    while (30..40).any(|id| ledger.drops(id) == 0) {
        assert!(
            Instant::now() < deadline,
            "the sweeper stopped after a panicking drop"
        );
        thread::sleep(Duration::from_millis(5));
    }
    drop(sweeper);
    ledger.assert_each_dropped_once();
}

/// An item whose clone cleans every pool (the old snapshot held the
/// cleanup lock while cloning and deadlocked here).
struct CleansOnClone(u32);

impl Clone for CleansOnClone {
    fn clone(&self) -> Self {
        common::explain_call("CleansOnClone::clone, about to call cleanup_all");
        cleanup_all();
        Self(self.0)
    }
}

#[test]
fn a_clone_that_cleans_every_pool_does_not_deadlock_the_snapshot() {
    let _serial = serial();
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let mut pool = Pool::builder().manual_cleanup().build();
        pool.put(CleansOnClone(1));
        pool.put(CleansOnClone(2));
        let before = pool.stats().cleanups;
        let snapshot = pool.snapshot();
        let held: usize = snapshot
            .slots
            .iter()
            .map(|slot| {
                usize::from(slot.private.is_some())
                    + slot
                        .shared
                        .iter()
                        .flat_map(|ring| &ring.slots)
                        .flatten()
                        .count()
            })
            .sum();
        // The cleanups that the clones asked for ran when the snapshot
        // ended, not inside it.
        let after = pool.stats().cleanups;
        done.send((held, after - before)).unwrap();
    });
    let (held, deferred) = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("snapshot deadlocked: T::clone ran under the cleanup lock");
    assert_eq!(held, 2);
    assert!(deferred >= 1, "the deferred cleanups ran: {deferred}");
}
