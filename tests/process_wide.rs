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

/// Blocks in `drop` until its gate opens.
struct Blocks {
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl Drop for Blocks {
    fn drop(&mut self) {
        let (open, opened) = &*self.gate;
        let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
        while !*open {
            open = opened.wait(open).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Waits (up to a generous bound: a liveness check, not a timing one)
/// until `done` holds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(not(miri))]
#[test]
fn a_blocking_drop_in_one_pool_keeps_every_other_pool_on_schedule() {
    let _serial = serial();
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let blocked = Pool::builder()
        .cleanup_interval(Duration::from_millis(2))
        .build();
    blocked.put(Blocks { gate: gate.clone() });
    // Two cleanups release the item; its drop blocks (on a worker).
    eventually("the blocking item is released", || {
        blocked.stats().cleanup_drops == 1
    });
    // Another pool is still cleaned on schedule, its items dropped.
    let ledger = DropLedger::new(4);
    let other = Pool::builder()
        .cleanup_interval(Duration::from_millis(2))
        .build();
    for id in 0..4 {
        other.put(ledger.item(id));
    }
    let before = other.stats().cleanups;
    eventually("another pool's items are dropped", || {
        ledger.total_drops() == 4
    });
    assert!(other.stats().cleanups >= before + 2);
    let (open, opened) = &*gate;
    *open.lock().unwrap() = true;
    opened.notify_all();
    ledger.assert_each_dropped_once();
}

/// A panic payload whose own drop panics.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("a panic payload's hostile drop");
    }
}

/// Panics in `drop` with a [`PanicsWhenDropped`] payload.
struct PanicsWithHostilePayload;

impl Drop for PanicsWithHostilePayload {
    fn drop(&mut self) {
        std::panic::panic_any(PanicsWhenDropped);
    }
}

// Under Miri no pool is cleaned by interval (no background thread but a
// `Sweeper`'s), so the interval tests run in the other builds only.
#[cfg(not(miri))]
#[test]
fn a_panicking_panic_payload_stops_no_cleanup() {
    let _serial = serial();
    let hostile = Pool::builder()
        .cleanup_interval(Duration::from_millis(2))
        .build();
    hostile.put(PanicsWithHostilePayload);
    eventually("the hostile drop ran", || {
        hostile.stats().cleanup_panics == 1
    });
    let ledger = DropLedger::new(4);
    let calm = Pool::builder()
        .cleanup_interval(Duration::from_millis(2))
        .build();
    calm.put(ledger.item(0));
    eventually("the next pool's item is dropped", || ledger.drops(0) == 1);
}

#[test]
fn a_panicking_panic_payload_stops_no_sweeper() {
    let _serial = serial();
    let ledger = DropLedger::new(3);
    let hostile = Pool::builder().manual_cleanup().build();
    let calm = Pool::builder().manual_cleanup().build();
    hostile.put(PanicsWithHostilePayload);
    let sweeper = Sweeper::spawn(Duration::from_millis(2));
    eventually("the sweeper counted the panic", || sweeper.panics() == 1);
    for id in 0..3 {
        calm.put(ledger.item(id));
    }
    eventually("the sweeper's later rounds drop items", || {
        (0..3).all(|id| ledger.drops(id) == 1)
    });
    drop(sweeper);
    ledger.assert_each_dropped_once();
}

#[cfg(not(miri))]
#[test]
fn automatic_cleanup_turns_off_and_on_for_the_whole_process() {
    let _serial = serial();
    victim_pool::set_automatic_cleanup(false);
    assert!(!victim_pool::automatic_cleanup());
    let ledger = DropLedger::new(1);
    let pool = Pool::builder()
        .cleanup_interval(Duration::from_millis(1))
        .build();
    pool.put(ledger.item(0));
    thread::sleep(Duration::from_millis(50));
    assert_eq!(pool.stats().cleanups, 0, "cleaned while turned off");
    victim_pool::set_automatic_cleanup(true);
    eventually("cleaned once turned on again", || ledger.drops(0) == 1);
}
