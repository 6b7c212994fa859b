//! The adoption API: owned guards, the `keep_if` filter, automatic release
//! of an idle pool, chaos per pool.

// The automatic-cleanup tests need a background thread, which Miri's runs
// do not have: their helpers go unused there.
#![cfg_attr(miri, allow(unused_imports, dead_code))]

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::DropLedger;
use victim_pool::{OwnedPoolGuard, Pool, DEFAULT_CLEANUP_INTERVAL};

fn assert_send_static<T: Send + 'static>(_: &T) {}

#[test]
fn an_owned_guard_moves_to_another_thread_and_comes_back() {
    let pool = Arc::new(Pool::new(|| Vec::<u8>::with_capacity(64)));
    let mut guard: OwnedPoolGuard<Vec<u8>> = pool.get_owned();
    assert_send_static(&guard);
    guard.push(1);
    thread::spawn(move || {
        assert_eq!(guard.as_slice(), [1]);
        drop(guard);
    })
    .join()
    .unwrap();
    // Put back by the other thread (into that thread's private slot).
    assert_eq!(pool.stats().puts, 1);
    let kept = pool.guard_owned(vec![9]).into_inner();
    assert_eq!(kept, [9]);
    assert_eq!(pool.stats().puts, 1, "into_inner keeps the object");
    assert_eq!(Arc::strong_count(&pool), 1, "the guards let go of the pool");
}

#[test]
fn keep_if_refuses_items() {
    let ledger = DropLedger::new(3);
    let pool = Pool::builder()
        .keep_if(|item: &common::Counted| item.id != 1)
        .manual_cleanup()
        .build();
    for id in 0..3 {
        pool.put(ledger.item(id));
    }
    assert_eq!(pool.stats().refused, 1);
    assert_eq!(ledger.drops(1), 1, "the refused item was dropped at once");
    let mut kept: Vec<usize> = std::iter::from_fn(|| pool.try_get())
        .map(|i| i.id)
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, [0, 2]);
    ledger.assert_each_dropped_once();
}

#[cfg(not(miri))]
#[test]
fn an_idle_pool_gives_its_items_back_without_any_call() {
    let ledger = DropLedger::new(100);
    let pool = Pool::builder()
        .cleanup_interval(Duration::from_millis(20))
        .build();
    for id in 0..100 {
        pool.put(ledger.item(id));
    }
    // Nobody touches the pool: two automatic cleanups release everything.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ledger.total_drops() < 100 {
        assert!(
            Instant::now() < deadline,
            "idle items not released: {:?}",
            pool.stats()
        );
        thread::sleep(Duration::from_millis(5));
    }
    assert!(pool.stats().cleanups >= 2);
    ledger.assert_each_dropped_once();
}

#[cfg(not(miri))]
#[test]
fn a_manual_pool_is_never_cleaned_behind_its_back() {
    let auto = Pool::builder()
        .cleanup_interval(Duration::from_millis(5))
        .build();
    auto.put(1u8);
    let manual = Pool::builder().manual_cleanup().build();
    manual.put(2u8);
    let deadline = Instant::now() + Duration::from_secs(20);
    while auto.stats().cleanups < 3 {
        assert!(Instant::now() < deadline, "the automatic cleanup never ran");
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(manual.stats().cleanups, 0);
    assert_eq!(manual.try_get(), Some(2));
    assert!(DEFAULT_CLEANUP_INTERVAL >= Duration::from_secs(1));
}

/// An item whose drop takes a while: the automatic cleanup's rounds last.
struct SlowDrop;

impl Drop for SlowDrop {
    fn drop(&mut self) {
        thread::sleep(Duration::from_micros(500));
    }
}

#[cfg(not(miri))]
#[test]
fn dropping_a_pool_drops_its_items_then_even_while_it_is_being_cleaned() {
    // Another pool keeps the automatic cleanup busy dropping slow items;
    // a `Pool` dropped meanwhile must still drop its items before its drop
    // returns, on this thread (the cleanup holds a pool only across the
    // protocol, and `Pool::drop` waits for that, never for user code).
    let slow = Arc::new(
        Pool::builder()
            .cleanup_interval(Duration::from_millis(1))
            .build(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let (slow, stop) = (slow.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..20 {
                    slow.put(SlowDrop);
                }
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    for round in 0..100 {
        let ledger = DropLedger::new(20);
        // Never due itself (so no cleanup takes its items out), but held
        // for a moment by every round of the automatic cleanup, which
        // looks at every pool.
        let pool = Pool::builder()
            .cleanup_interval(Duration::from_secs(3600))
            .build();
        for id in 0..20 {
            pool.put(ledger.item(id));
        }
        thread::sleep(Duration::from_millis(1));
        drop(pool);
        assert_eq!(ledger.total_drops(), 20, "round {round}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    feeder.join().unwrap();
}
